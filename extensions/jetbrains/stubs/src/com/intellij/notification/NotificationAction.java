// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.notification;

import com.intellij.openapi.project.DumbAwareAction; import org.jetbrains.annotations.NotNull;
public abstract class NotificationAction extends DumbAwareAction { public static @NotNull NotificationAction createSimpleExpiring(@NotNull String text, @NotNull Runnable action) { throw new UnsupportedOperationException("stub"); } }
