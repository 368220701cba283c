// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.process;

import org.jetbrains.annotations.NotNull;
public interface ProcessListener extends java.util.EventListener { default void processTerminated(@NotNull ProcessEvent event) {} }
