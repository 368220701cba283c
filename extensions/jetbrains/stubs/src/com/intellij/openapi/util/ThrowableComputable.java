// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.util;

public interface ThrowableComputable<T, E extends Throwable> { T compute() throws E; }
