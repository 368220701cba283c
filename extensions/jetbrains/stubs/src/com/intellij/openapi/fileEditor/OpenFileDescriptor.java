// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.fileEditor;

import com.intellij.openapi.project.Project; import com.intellij.openapi.vfs.VirtualFile; import org.jetbrains.annotations.NotNull;
public class OpenFileDescriptor { public OpenFileDescriptor(@NotNull Project project, @NotNull VirtualFile file, int logicalLine, int logicalColumn) { throw new UnsupportedOperationException("stub"); } public void navigate(boolean requestFocus) { throw new UnsupportedOperationException("stub"); } }
