// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.externalSystem.service.execution;

import com.intellij.execution.configurations.RunConfigurationBase; import com.intellij.openapi.externalSystem.model.execution.ExternalSystemTaskExecutionSettings; import org.jetbrains.annotations.NotNull;
public class ExternalSystemRunConfiguration extends RunConfigurationBase<ExternalSystemTaskExecutionSettings> { public @NotNull ExternalSystemTaskExecutionSettings getSettings() { throw new UnsupportedOperationException("stub"); } }
