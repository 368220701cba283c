package dev.mirrordgo.core.config

import java.io.File

/**
 * Which files are mirrord configs: the JSON schema provider attaches the
 * generated schema to them, and the active-config menu lists them. The
 * patterns are upstream's (`*mirrord.json`, any `.json` in `.mirrord/`) and the
 * daemon's discovery, which also reads TOML and YAML.
 */
object ConfigFiles {
    const val SCHEMA_NAME = "mirrord config"
    /** The schema inside the plugin jar (a copy of schema/mirrord-schema.json made at build time). */
    const val SCHEMA_RESOURCE = "/schemas/mirrord-schema.json"

    const val DEFAULT_CONFIG = """{
  "feature": {
    "network": { "incoming": "mirror", "outgoing": true },
    "fs": "read",
    "env": true
  }
}
"""

    private val JSON = listOf(Regex("""(^|/)[^/]*mirrord\.json$"""), Regex("""(^|/)\.mirrord/[^/]+\.json$"""))
    private val ANY = listOf(Regex("""(^|/)[^/]*mirrord\.(json|toml|ya?ml)$"""), Regex("""(^|/)\.mirrord/[^/]+\.(json|toml|ya?ml)$"""))

    /** Whether the JSON schema applies to the file at [path]. */
    fun schemaApplies(path: String): Boolean = norm(path).let { p -> JSON.any { it.containsMatchIn(p) } }

    /** Whether [path] is any mirrord config (JSON, TOML or YAML). */
    fun isConfig(path: String): Boolean = norm(path).let { p -> ANY.any { it.containsMatchIn(p) } }

    /** Where "Open config" creates the default config of a project. */
    fun defaultLocation(projectDir: String): File = File(projectDir, ".mirrord/mirrord.json")

    /** The labels of the active-config menu: default discovery first, then every candidate relative to the project. */
    fun menuItems(projectDir: String, candidates: List<String>, active: String?, discovered: String?): List<Pair<String, String?>> {
        val rel = { p: String -> runCatching { File(p).relativeTo(File(projectDir)).path }.getOrDefault(p) }
        val items = mutableListOf<Pair<String, String?>>(
            "Default discovery (${discovered?.let(rel) ?: "no config file"})${if (active == null) " ✓" else ""}" to null,
        )
        candidates.forEach { items += "${rel(it)}${if (it == active) " ✓" else ""}" to it }
        return items
    }

    private fun norm(p: String) = p.replace('\\', '/')
}
