// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.actionSystem;

import org.jetbrains.annotations.*;
public abstract class AnAction { public AnAction() {} public AnAction(@Nullable String text) {} public @NotNull ActionUpdateThread getActionUpdateThread() { throw new UnsupportedOperationException("stub"); } public void update(@NotNull AnActionEvent e) {} public abstract void actionPerformed(@NotNull AnActionEvent e); }
