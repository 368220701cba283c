// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.jetbrains.jsonSchema.extension;

import com.intellij.openapi.vfs.VirtualFile; import com.jetbrains.jsonSchema.impl.JsonSchemaVersion; import org.jetbrains.annotations.*;
public interface JsonSchemaFileProvider { boolean isAvailable(@NotNull VirtualFile file); @NotNull String getName(); @Nullable VirtualFile getSchemaFile(); @NotNull SchemaType getSchemaType(); default JsonSchemaVersion getSchemaVersion() { return JsonSchemaVersion.SCHEMA_4; } }
