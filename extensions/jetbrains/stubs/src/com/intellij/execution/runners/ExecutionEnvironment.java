// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.runners;

import com.intellij.execution.configurations.RunProfile; import org.jetbrains.annotations.NotNull;
public final class ExecutionEnvironment { public @NotNull RunProfile getRunProfile() { throw new UnsupportedOperationException("stub"); } }
