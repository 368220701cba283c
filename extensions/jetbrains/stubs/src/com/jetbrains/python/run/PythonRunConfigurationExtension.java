// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.jetbrains.python.run;

import com.intellij.execution.ExecutionException; import com.intellij.execution.configuration.RunConfigurationExtensionBase; import com.intellij.execution.configurations.*; import org.jetbrains.annotations.*;
public abstract class PythonRunConfigurationExtension extends RunConfigurationExtensionBase<AbstractPythonRunConfiguration<?>> { protected abstract void patchCommandLine(@NotNull AbstractPythonRunConfiguration<?> configuration, @Nullable RunnerSettings runnerSettings, @NotNull GeneralCommandLine cmdLine, @NotNull String runnerId) throws ExecutionException; }
