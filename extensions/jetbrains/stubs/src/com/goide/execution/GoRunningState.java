// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.goide.execution;

import com.intellij.execution.configurations.CommandLineState;
public abstract class GoRunningState<T extends GoRunConfigurationBase<?>> extends CommandLineState { public enum CommandLineType { RUN, BUILD } }
