// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.execution.process;

public class ProcessEvent extends java.util.EventObject { public ProcessEvent(ProcessHandler source) { super(source); } }
