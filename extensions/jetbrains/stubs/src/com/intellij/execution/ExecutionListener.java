// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution;

import com.intellij.execution.process.ProcessHandler; import com.intellij.execution.runners.ExecutionEnvironment; import org.jetbrains.annotations.NotNull;
public interface ExecutionListener { default void processStarted(@NotNull String executorId, @NotNull ExecutionEnvironment env, @NotNull ProcessHandler handler) {} default void processNotStarted(@NotNull String executorId, @NotNull ExecutionEnvironment env) {} }
