// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.jetbrains.python.run;

import com.intellij.execution.configurations.RunConfigurationBase; import java.util.Map;
public abstract class AbstractPythonRunConfiguration<T extends AbstractPythonRunConfiguration<T>> extends RunConfigurationBase<Object> { public Map<String, String> getEnvs() { throw new UnsupportedOperationException("stub"); } }
