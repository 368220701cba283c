// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.configurations;

import java.util.Map; import org.jetbrains.annotations.*;
public class SimpleProgramParameters { public String getWorkingDirectory() { throw new UnsupportedOperationException("stub"); } public @NotNull Map<String, String> getEnv() { throw new UnsupportedOperationException("stub"); } public void setEnv(Map<String, String> envs) { throw new UnsupportedOperationException("stub"); } public boolean isPassParentEnvs() { throw new UnsupportedOperationException("stub"); } public void setPassParentEnvs(boolean passDefaultEnvs) { throw new UnsupportedOperationException("stub"); } }
