// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.ui;

import com.intellij.openapi.project.Project; import javax.swing.JComponent; import org.jetbrains.annotations.Nullable;
public abstract class DialogWrapper { protected DialogWrapper(@Nullable Project project, boolean canBeParent) { throw new UnsupportedOperationException("stub"); } protected void init() { throw new UnsupportedOperationException("stub"); } public String getTitle() { throw new UnsupportedOperationException("stub"); } public void setTitle(String title) { throw new UnsupportedOperationException("stub"); } public boolean showAndGet() { throw new UnsupportedOperationException("stub"); } protected abstract @Nullable JComponent createCenterPanel(); public @Nullable JComponent getPreferredFocusedComponent() { throw new UnsupportedOperationException("stub"); } }
