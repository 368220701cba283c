// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.options;

import javax.swing.JComponent; import org.jetbrains.annotations.Nullable;
public interface UnnamedConfigurable { @Nullable JComponent createComponent(); boolean isModified(); void apply() throws ConfigurationException; default void reset() {} }
