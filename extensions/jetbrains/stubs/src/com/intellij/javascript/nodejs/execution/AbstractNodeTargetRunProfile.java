// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.javascript.nodejs.execution;

import com.intellij.execution.configurations.RunConfigurationBase;
public abstract class AbstractNodeTargetRunProfile extends RunConfigurationBase<Object> {}
