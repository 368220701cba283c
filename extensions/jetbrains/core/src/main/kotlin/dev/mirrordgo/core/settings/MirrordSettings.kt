package dev.mirrordgo.core.settings

/** The auto-update setting: the latest version, none, or one pinned version. */
sealed class AutoUpdate {
    object On : AutoUpdate() { override fun toString() = "true" }
    object Off : AutoUpdate() { override fun toString() = "false" }
    data class Pinned(val version: String) : AutoUpdate() { override fun toString() = version }

    /** The daemon's UpdatePolicy.autoUpdate: true, false or "x.y.z". */
    fun wire(): Any = when (this) {
        On -> true
        Off -> false
        is Pinned -> version
    }

    companion object {
        private val VERSION = Regex("""^v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)$""")

        /** Reads the stored text; an invalid value is an error that says what the field accepts. */
        fun parse(text: String?): AutoUpdate {
            val s = text?.trim().orEmpty()
            return when {
                s.isEmpty() || s.equals("true", true) || s.equals("on", true) -> On
                s.equals("false", true) || s.equals("off", true) -> Off
                else -> VERSION.matchEntire(s)?.let { Pinned(it.groupValues[1]) }
                    ?: throw IllegalArgumentException("auto-update is \"$s\": use on, off or a version such as 0.3.1")
            }
        }
    }
}

/** The notifications a user can switch off one by one ("Don't show again"). */
enum class NotificationId(val title: String) {
    USING_CONFIG("Which config a launch uses"),
    TARGETLESS("Running targetless"),
    SESSION_WARNINGS("Session warnings"),
    UPDATE_INSTALLED("A newer mirrord was installed"),
    BINARY_NOTE("Which mirrord binary is used"),
}

/**
 * The plugin's application settings as plain data, so the settings page's
 * logic (validation, what changed, what it means for the daemon) is tested
 * without the IDE. The IDE adapter persists exactly these fields.
 */
data class MirrordSettings(
    val enableOnStartup: Boolean = false,
    /** "true", "false" or a version: kept as text so an invalid edit can be shown rather than lost. */
    val autoUpdate: String = "true",
    /** Empty: find mirrord on PATH or the managed download. */
    val binaryPath: String = "",
    val disabledNotifications: Set<NotificationId> = emptySet(),
    val lastTarget: String = "",
) {
    fun shows(id: NotificationId): Boolean = id !in disabledNotifications

    fun hide(id: NotificationId): MirrordSettings = copy(disabledNotifications = disabledNotifications + id)

    /** The problems of an edited settings form, empty when it can be applied. */
    fun validate(isExecutable: (String) -> Boolean): List<String> {
        val out = mutableListOf<String>()
        runCatching { AutoUpdate.parse(autoUpdate) }.onFailure { out += it.message!! }
        if (binaryPath.isNotBlank() && !isExecutable(binaryPath.trim())) {
            out += "binary path \"${binaryPath.trim()}\" is not an executable file: fix it, or clear it to use mirrord from PATH"
        }
        return out
    }

    /** A change of these reconnects to the daemon (another binary, another update policy). */
    fun needsReconnect(old: MirrordSettings): Boolean = old.binaryPath.trim() != binaryPath.trim() || old.autoUpdate.trim() != autoUpdate.trim()
}
