// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.ide.plugins;

import com.intellij.openapi.extensions.PluginId; import org.jetbrains.annotations.*;
public final class PluginManagerCore { public static @Nullable IdeaPluginDescriptor getPlugin(@Nullable PluginId id) { throw new UnsupportedOperationException("stub"); } }
