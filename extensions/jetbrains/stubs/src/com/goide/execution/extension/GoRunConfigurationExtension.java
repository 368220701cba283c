// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.goide.execution.extension;

import com.goide.execution.*; import com.intellij.execution.ExecutionException; import com.intellij.execution.configuration.RunConfigurationExtensionBase; import com.intellij.execution.configurations.RunnerSettings; import com.intellij.execution.target.TargetedCommandLineBuilder; import org.jetbrains.annotations.*;
public abstract class GoRunConfigurationExtension extends RunConfigurationExtensionBase<GoRunConfigurationBase<?>> { protected void patchCommandLine(@NotNull GoRunConfigurationBase<?> configuration, @Nullable RunnerSettings runnerSettings, @NotNull TargetedCommandLineBuilder cmdLine, @NotNull String runnerId, @NotNull GoRunningState<? extends GoRunConfigurationBase<?>> state, @NotNull GoRunningState.CommandLineType commandLineType) throws ExecutionException {} }
