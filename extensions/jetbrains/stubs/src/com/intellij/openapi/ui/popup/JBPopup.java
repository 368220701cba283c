// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.ui.popup;

import com.intellij.openapi.project.Project; import org.jetbrains.annotations.NotNull;
public interface JBPopup { void showCenteredInCurrentWindow(@NotNull Project project); }
