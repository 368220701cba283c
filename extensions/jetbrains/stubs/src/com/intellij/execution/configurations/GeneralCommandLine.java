// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.configurations;

import java.io.File; import java.util.Map; import org.jetbrains.annotations.*;
public class GeneralCommandLine { public @Nullable File getWorkDirectory() { throw new UnsupportedOperationException("stub"); } public @NotNull Map<String, String> getEnvironment() { throw new UnsupportedOperationException("stub"); } }
