// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.notification;

import org.jetbrains.annotations.NotNull;
public final class NotificationGroup { public @NotNull Notification createNotification(@NotNull String title, @NotNull String content, @NotNull NotificationType type) { throw new UnsupportedOperationException("stub"); } }
