// The SDK-free core: plain Kotlin + Gson, unit-tested with JUnit 5.
plugins { kotlin("jvm") }

repositories { mavenCentral() }

dependencies {
    implementation("com.google.code.gson:gson:2.10.1")
    testImplementation(kotlin("test-junit5"))
    testImplementation("org.junit.jupiter:junit-jupiter-params:5.10.2")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

kotlin { jvmToolchain(21) }

tasks.test {
    useJUnitPlatform()
    environment("MIRRORD_JB_PLUGIN_DIR", rootDir.resolve("plugin").path)
}

// The config schema goes into the jar: the plugin's JSON schema provider reads it from there.
tasks.processResources {
    from(rootDir.resolve("../../schema/mirrord-schema.json")) { into("schemas") }
}
