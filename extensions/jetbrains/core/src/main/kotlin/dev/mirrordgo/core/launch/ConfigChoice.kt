package dev.mirrordgo.core.launch

import java.io.File

/** Where the config of a launch came from; the notification names it. */
enum class ConfigSource(val label: String) {
    ACTIVE("the active config"),
    ENV("MIRRORD_CONFIG_FILE of the run configuration"),
    DEFAULT("found in the project's .mirrord directory"),
    NONE("no config file"),
}

data class ConfigChoice(val path: String?, val source: ConfigSource)

/**
 * The config a launch uses, first match wins: the active config the user
 * picked, else MIRRORD_CONFIG_FILE of the run configuration (with
 * `$ProjectPath$` expanded and a relative path taken from the project
 * directory, where upstream's VS Code extension misparses it), else the
 * daemon's default discovery, else none (the daemon's defaults).
 */
object ConfigChooser {
    const val CONFIG_FILE = "MIRRORD_CONFIG_FILE"

    fun choose(active: String?, runEnv: Map<String, String>, projectDir: String?, discovered: String?): ConfigChoice {
        if (!active.isNullOrBlank()) return ConfigChoice(active, ConfigSource.ACTIVE)
        val fromEnv = runEnv[CONFIG_FILE]?.trim()
        if (!fromEnv.isNullOrEmpty()) return ConfigChoice(expand(fromEnv, projectDir), ConfigSource.ENV)
        if (!discovered.isNullOrBlank()) return ConfigChoice(discovered, ConfigSource.DEFAULT)
        return ConfigChoice(null, ConfigSource.NONE)
    }

    private fun expand(value: String, projectDir: String?): String {
        val v = if (projectDir != null) value.replace("\$ProjectPath\$", projectDir) else value
        val f = File(v)
        return if (f.isAbsolute || projectDir == null) v else File(projectDir, v).path
    }
}
