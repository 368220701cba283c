// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.notification;

import org.jetbrains.annotations.*;
public interface NotificationGroupManager { static @NotNull NotificationGroupManager getInstance() { throw new UnsupportedOperationException("stub"); } @Nullable NotificationGroup getNotificationGroup(@NotNull String groupId); }
