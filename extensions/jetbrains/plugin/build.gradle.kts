// The IntelliJ Platform adapters, against IntelliJ IDEA 2025.3 (build 253).
// Go, Python and Node.js are optional dependencies in plugin.xml; they are
// on the compile classpath here only so their adapters compile.
plugins {
    kotlin("jvm")
    id("org.jetbrains.intellij.platform")
}

repositories {
    mavenCentral()
    intellijPlatform { defaultRepositories() }
}

dependencies {
    implementation(project(":core"))
    intellijPlatform {
        intellijIdeaUltimate("2025.3")
        bundledPlugins("com.intellij.java", "com.intellij.gradle", "JavaScript", "NodeJS")
        compatiblePlugins("org.jetbrains.plugins.go", "PythonCore")
    }
}

kotlin { jvmToolchain(21) }

intellijPlatform {
    pluginConfiguration {
        ideaVersion {
            sinceBuild = "253"
            untilBuild = provider { null }
        }
    }
}
