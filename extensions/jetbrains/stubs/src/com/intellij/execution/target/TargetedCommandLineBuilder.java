// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.target;

import org.jetbrains.annotations.*;
public final class TargetedCommandLineBuilder { public void addEnvironmentVariable(@NotNull String name, @Nullable String value) { throw new UnsupportedOperationException("stub"); } public void removeEnvironmentVariable(@NotNull String name) { throw new UnsupportedOperationException("stub"); } }
