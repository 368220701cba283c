// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.jetbrains.nodejs.run;

import com.intellij.javascript.nodejs.execution.AbstractNodeTargetRunProfile; import java.util.Map; import org.jetbrains.annotations.*;
public class NodeJsRunConfiguration extends AbstractNodeTargetRunProfile { public @NotNull Map<String, String> getEnvs() { throw new UnsupportedOperationException("stub"); } public void setEnvs(@NotNull Map<String, String> envs) { throw new UnsupportedOperationException("stub"); } public @Nullable String getWorkingDirectory() { throw new UnsupportedOperationException("stub"); } }
