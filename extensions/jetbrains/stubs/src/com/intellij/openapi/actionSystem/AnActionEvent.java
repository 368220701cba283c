// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.actionSystem;

import com.intellij.openapi.project.Project; import org.jetbrains.annotations.*;
public class AnActionEvent { public @Nullable Project getProject() { throw new UnsupportedOperationException("stub"); } public @NotNull Presentation getPresentation() { throw new UnsupportedOperationException("stub"); } }
