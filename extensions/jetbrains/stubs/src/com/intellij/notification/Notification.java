// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.notification;

import com.intellij.openapi.actionSystem.AnAction; import com.intellij.openapi.project.Project; import org.jetbrains.annotations.*;
public class Notification { public @NotNull Notification addAction(@NotNull AnAction action) { throw new UnsupportedOperationException("stub"); } public void notify(@Nullable Project project) { throw new UnsupportedOperationException("stub"); } }
