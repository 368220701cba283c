// Minimal, conventional build of the plugin for real users (see
// settings.gradle.kts for why `make jetbrains` does not use it).
// `./gradlew :plugin:buildPlugin` writes plugin/build/distributions/*.zip,
// which "Settings | Plugins | Install Plugin from Disk…" installs.
plugins {
    kotlin("jvm") version "2.2.20" apply false
    id("org.jetbrains.intellij.platform") version "2.10.4" apply false
}

allprojects {
    group = "dev.mirrordgo"
    version = rootDir.resolve("../../VERSION").readText().trim()
}
