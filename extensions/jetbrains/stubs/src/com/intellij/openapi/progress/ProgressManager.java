// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.progress;

import com.intellij.openapi.project.Project; import com.intellij.openapi.util.ThrowableComputable; import org.jetbrains.annotations.*;
public abstract class ProgressManager { public static @NotNull ProgressManager getInstance() { throw new UnsupportedOperationException("stub"); } public abstract ProgressIndicator getProgressIndicator(); public abstract <T, E extends Exception> T runProcessWithProgressSynchronously(@NotNull ThrowableComputable<T, E> process, @NotNull String progressTitle, boolean canBeCanceled, @Nullable Project project) throws E; }
