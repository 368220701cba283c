// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.extensions;

import org.jetbrains.annotations.NotNull;
public final class PluginId { public static @NotNull PluginId getId(@NotNull String idString) { throw new UnsupportedOperationException("stub"); } }
