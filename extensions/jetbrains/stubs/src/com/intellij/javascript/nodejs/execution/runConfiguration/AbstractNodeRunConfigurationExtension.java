// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.javascript.nodejs.execution.runConfiguration;

import com.intellij.execution.ExecutionException; import com.intellij.execution.configuration.RunConfigurationExtensionBase; import com.intellij.execution.runners.ExecutionEnvironment; import com.intellij.javascript.nodejs.execution.AbstractNodeTargetRunProfile; import org.jetbrains.annotations.*;
public abstract class AbstractNodeRunConfigurationExtension extends RunConfigurationExtensionBase<AbstractNodeTargetRunProfile> { public @Nullable NodeRunConfigurationLaunchSession createLaunchSession(@NotNull AbstractNodeTargetRunProfile configuration, @NotNull ExecutionEnvironment environment) throws ExecutionException { return null; } }
