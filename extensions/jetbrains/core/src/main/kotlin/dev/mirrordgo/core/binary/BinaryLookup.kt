package dev.mirrordgo.core.binary

import dev.mirrordgo.core.settings.AutoUpdate
import java.io.File

/** Where the binary came from, for the log and the notification naming it. */
enum class BinarySource { SETTING, PATH, MANAGED }

data class FoundBinary(val path: String, val source: BinarySource, val note: String? = null)

/** What the lookup needs from the machine (fakes in the tests). */
interface Machine {
    fun isExecutable(path: String): Boolean
    /** `path --version`'s version, null when it fails. */
    fun version(path: String): String?
}

/**
 * Which mirrord binary the plugin runs, the same order as the VS Code
 * extension's: the binary-path setting, then a mirrord on PATH of the
 * wanted version, then the daemon-managed download (the updater installs
 * releases under <data>/bin/<version>/mirrord and points <data>/current at
 * the one to use), then any mirrord on PATH with a note.
 */
class BinaryLookup(private val machine: Machine, private val pathDirs: List<String>, private val dataDir: String) {
    fun find(binaryPath: String, auto: AutoUpdate, pluginVersion: String): FoundBinary {
        val configured = binaryPath.trim()
        if (configured.isNotEmpty()) {
            if (machine.isExecutable(configured)) return FoundBinary(configured, BinarySource.SETTING)
            throw IllegalStateException("the mirrord binary path \"$configured\" is not an executable file: fix it in Settings | Tools | mirrord, or clear it")
        }
        val want = when (auto) {
            is AutoUpdate.Pinned -> auto.version
            AutoUpdate.On -> pluginVersion
            AutoUpdate.Off -> null
        }
        val onPath = pathDirs.filter { it.isNotEmpty() }.map { File(it, "mirrord").path }.firstOrNull(machine::isExecutable)
        val pathVersion = onPath?.let(machine::version)
        if (onPath != null && (want == null || pathVersion == want)) return FoundBinary(onPath, BinarySource.PATH)
        val managed = if (auto is AutoUpdate.Pinned) File(dataDir, "bin/${auto.version}/mirrord").path else File(dataDir, "current").path
        if (machine.isExecutable(managed)) return FoundBinary(managed, BinarySource.MANAGED)
        if (onPath != null) {
            return FoundBinary(onPath, BinarySource.PATH, "mirrord on PATH is ${pathVersion ?: "of an unknown version"}, not $want; it is used until the daemon has installed $want")
        }
        throw IllegalStateException("no mirrord binary found: install mirrord on PATH, or set the binary path in Settings | Tools | mirrord")
    }

    companion object {
        /** The user's mirrord data directory, as the daemon's updater uses it. */
        fun dataDir(env: Map<String, String>, home: String): String =
            env["XDG_DATA_HOME"]?.takeIf { it.isNotEmpty() }?.let { File(it, "mirrord").path } ?: File(home, ".local/share/mirrord").path

        /** Reads `mirrord X.Y.Z`. */
        fun parseVersion(out: String): String? = Regex("""^mirrord\s+v?(\S+)""", RegexOption.MULTILINE).find(out.trim())?.groupValues?.get(1)
    }
}
