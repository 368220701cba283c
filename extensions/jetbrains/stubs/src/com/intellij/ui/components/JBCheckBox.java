// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.ui.components;

public class JBCheckBox extends javax.swing.JCheckBox { public JBCheckBox(String text) { super(text); } }
