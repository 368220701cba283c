// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution;

import com.intellij.execution.configuration.RunConfigurationExtensionBase; import com.intellij.execution.configurations.*; import org.jetbrains.annotations.*;
public abstract class RunConfigurationExtension extends RunConfigurationExtensionBase<RunConfigurationBase<?>> { public abstract <T extends RunConfigurationBase<?>> void updateJavaParameters(@NotNull T configuration, @NotNull JavaParameters params, @Nullable RunnerSettings runnerSettings) throws ExecutionException; }
