// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.application;

import org.jetbrains.annotations.NotNull;
public abstract class ModalityState { public static @NotNull ModalityState any() { throw new UnsupportedOperationException("stub"); } }
