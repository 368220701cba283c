// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.ui.popup;

import com.intellij.util.Consumer; import org.jetbrains.annotations.NotNull;
public interface IPopupChooserBuilder<T> { IPopupChooserBuilder<T> setItemChosenCallback(@NotNull Consumer<? super T> callback); IPopupChooserBuilder<T> setTitle(@NotNull String title); JBPopup createPopup(); }
