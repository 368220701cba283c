// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.externalSystem.model.execution;

import java.util.*; import org.jetbrains.annotations.*;
public class ExternalSystemTaskExecutionSettings { public String getExternalProjectPath() { throw new UnsupportedOperationException("stub"); } public @NotNull List<String> getTaskNames() { throw new UnsupportedOperationException("stub"); } public @NotNull Map<String, String> getEnv() { throw new UnsupportedOperationException("stub"); } public void setEnv(@NotNull Map<String, String> value) { throw new UnsupportedOperationException("stub"); } }
