// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.actionSystem;

public final class Presentation { public boolean isEnabled() { throw new UnsupportedOperationException("stub"); } public void setEnabled(boolean enabled) { throw new UnsupportedOperationException("stub"); } public String getText() { throw new UnsupportedOperationException("stub"); } public void setText(String text) { throw new UnsupportedOperationException("stub"); } }
