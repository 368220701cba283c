package dev.mirrordgo.plugin

import com.intellij.openapi.components.Service
import com.intellij.openapi.project.Project

/**
 * Per-project state that, like upstream's, lives in memory only: the
 * toolbar toggle (initially the "enable on startup" setting) and the
 * active config picked in the toolbar menu.
 */
@Service(Service.Level.PROJECT)
class MirrordProjectState(@Suppress("unused") private val project: Project) {
    @Volatile var enabled: Boolean = MirrordSettingsState.get().settings.enableOnStartup
    @Volatile var activeConfig: String? = null

    companion object {
        fun of(project: Project): MirrordProjectState = project.getService(MirrordProjectState::class.java)
    }
}
