// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution;

public class ExecutionException extends Exception { public ExecutionException(String s) { super(s); } public ExecutionException(String s, Throwable cause) { super(s, cause); } }
