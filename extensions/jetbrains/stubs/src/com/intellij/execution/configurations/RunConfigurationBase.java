// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.configurations;

import com.intellij.openapi.project.Project; import org.jetbrains.annotations.NotNull;
public abstract class RunConfigurationBase<T> implements RunProfile { public final @NotNull Project getProject() { throw new UnsupportedOperationException("stub"); } public @NotNull String getName() { throw new UnsupportedOperationException("stub"); } }
