// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.jetbrains.jsonSchema.extension;

import com.intellij.openapi.project.Project; import com.intellij.openapi.vfs.VirtualFile; import java.util.List; import org.jetbrains.annotations.*;
public interface JsonSchemaProviderFactory { @NotNull List<JsonSchemaFileProvider> getProviders(@NotNull Project project); static @Nullable VirtualFile getResourceFile(@NotNull Class<?> baseClass, @NotNull String resourcePath) { throw new UnsupportedOperationException("stub"); } }
