// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.goide.execution;

import com.intellij.execution.configurations.RunConfigurationBase; import java.util.Map; import org.jetbrains.annotations.*;
public abstract class GoRunConfigurationBase<RunningState extends GoRunningState<?>> extends RunConfigurationBase<Object> { public @NotNull Map<String, String> getCustomEnvironment() { throw new UnsupportedOperationException("stub"); } public @NotNull String getWorkingDirectory() { throw new UnsupportedOperationException("stub"); } }
