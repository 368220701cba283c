// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.ui.components;

public class JBTextField extends javax.swing.JTextField { public JBTextField() {} }
