// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.externalSystem.service.execution;

import com.intellij.execution.Executor; import com.intellij.execution.configuration.RunConfigurationExtensionBase; import com.intellij.execution.configurations.*; import org.jetbrains.annotations.*;
@Deprecated public abstract class ExternalSystemRunConfigurationExtension extends RunConfigurationExtensionBase<ExternalSystemRunConfiguration> { public void updateVMParameters(@NotNull ExternalSystemRunConfiguration configuration, @NotNull SimpleJavaParameters javaParameters, @Nullable RunnerSettings settings, @NotNull Executor executor) {} public void attachToProcess(@NotNull ExternalSystemRunConfiguration configuration, @NotNull ExternalSystemProcessHandler processHandler, @Nullable RunnerSettings settings) {} }
