// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.util.ui;

import javax.swing.*; import org.jetbrains.annotations.NotNull;
public class FormBuilder { public static FormBuilder createFormBuilder() { throw new UnsupportedOperationException("stub"); } public FormBuilder addComponent(@NotNull JComponent component) { throw new UnsupportedOperationException("stub"); } public FormBuilder addLabeledComponent(@NotNull String labelText, @NotNull JComponent component) { throw new UnsupportedOperationException("stub"); } public FormBuilder addSeparator() { throw new UnsupportedOperationException("stub"); } public FormBuilder addComponentFillVertically(@NotNull JComponent component, int inset) { throw new UnsupportedOperationException("stub"); } public JPanel getPanel() { throw new UnsupportedOperationException("stub"); } }
