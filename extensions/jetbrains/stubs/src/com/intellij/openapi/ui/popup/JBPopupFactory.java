// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.ui.popup;

import java.util.List; import org.jetbrains.annotations.NotNull;
public abstract class JBPopupFactory { public static JBPopupFactory getInstance() { throw new UnsupportedOperationException("stub"); } public abstract @NotNull <T> IPopupChooserBuilder<T> createPopupChooserBuilder(@NotNull List<? extends T> list); }
