// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.vfs;

import org.jetbrains.annotations.*;
public abstract class LocalFileSystem { public static LocalFileSystem getInstance() { throw new UnsupportedOperationException("stub"); } public abstract @Nullable VirtualFile refreshAndFindFileByPath(@NotNull String path); }
