// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.project;

import com.intellij.openapi.actionSystem.AnAction;
public abstract class DumbAwareAction extends AnAction implements DumbAware {}
