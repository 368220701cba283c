// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.actionSystem;

import org.jetbrains.annotations.NotNull;
public abstract class ToggleAction extends AnAction { public ToggleAction() {} @Override public final void actionPerformed(@NotNull AnActionEvent e) { throw new UnsupportedOperationException("stub"); } public abstract boolean isSelected(@NotNull AnActionEvent e); public abstract void setSelected(@NotNull AnActionEvent e, boolean state); @Override public void update(@NotNull AnActionEvent e) { throw new UnsupportedOperationException("stub"); } }
