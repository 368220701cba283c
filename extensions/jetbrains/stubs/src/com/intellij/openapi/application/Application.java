// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.application;

import com.intellij.openapi.components.ComponentManager; import java.util.concurrent.Future; import org.jetbrains.annotations.NotNull;
public interface Application extends ComponentManager { boolean isDispatchThread(); @NotNull Future<?> executeOnPooledThread(@NotNull Runnable action); void invokeAndWait(@NotNull Runnable runnable, @NotNull ModalityState modalityState); }
