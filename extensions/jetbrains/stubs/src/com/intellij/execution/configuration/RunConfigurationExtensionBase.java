// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.configuration;

import com.intellij.execution.configurations.*; import com.intellij.execution.process.ProcessHandler; import com.intellij.openapi.options.SettingsEditor; import org.jetbrains.annotations.*;
public abstract class RunConfigurationExtensionBase<T extends RunConfigurationBase<?>> { protected abstract boolean isApplicableFor(@NotNull T configuration); protected boolean isEnabledFor(@NotNull T applicableConfiguration, @Nullable RunnerSettings runnerSettings) { return true; } protected void attachToProcess(@NotNull T configuration, @NotNull ProcessHandler handler, @Nullable RunnerSettings runnerSettings) {} protected @Nullable <P extends T> SettingsEditor<P> createEditor(@NotNull P configuration) { return null; } protected @Nullable String getEditorTitle() { return null; } }
