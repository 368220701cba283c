// Compile-only stub of the IntelliJ Platform 2025.3 API: only the members the adapters use. Never packaged.
package com.jetbrains.jsonSchema.impl;

public enum JsonSchemaVersion { SCHEMA_4, SCHEMA_6, SCHEMA_7, SCHEMA_2019_09, SCHEMA_2020_12 }
