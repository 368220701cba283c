// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.project;

import com.intellij.openapi.components.ComponentManager; import org.jetbrains.annotations.Nullable;
public interface Project extends ComponentManager { @Nullable String getBasePath(); }
