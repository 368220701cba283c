// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.configurations;

import com.intellij.execution.runners.ExecutionEnvironment; import org.jetbrains.annotations.NotNull;
public abstract class CommandLineState { public @NotNull ExecutionEnvironment getEnvironment() { throw new UnsupportedOperationException("stub"); } }
