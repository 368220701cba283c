// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.components;

import org.jetbrains.annotations.*;
public interface PersistentStateComponent<T> { @Nullable T getState(); void loadState(@NotNull T state); }
