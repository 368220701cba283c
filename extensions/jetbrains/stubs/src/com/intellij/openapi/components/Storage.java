// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.intellij.openapi.components;

import java.lang.annotation.*;
@Retention(RetentionPolicy.RUNTIME) @Target({}) public @interface Storage { String value() default ""; }
