package dev.mirrordgo.plugin

import com.intellij.openapi.components.PersistentStateComponent
import com.intellij.openapi.components.Service
import com.intellij.openapi.components.State
import com.intellij.openapi.components.Storage
import com.intellij.openapi.application.ApplicationManager
import dev.mirrordgo.core.settings.MirrordSettings
import dev.mirrordgo.core.settings.NotificationId

/**
 * Persists core's [MirrordSettings] (Settings | Tools | mirrord) in
 * mirrord.xml. XmlSerializer needs mutable bean fields, so [Bean] mirrors
 * the data class; every rule about the values lives in core.
 */
@Service(Service.Level.APP)
@State(name = "MirrordGoSettings", storages = [Storage("mirrord.xml")])
class MirrordSettingsState : PersistentStateComponent<MirrordSettingsState.Bean> {
    class Bean {
        var enableOnStartup: Boolean = false
        var autoUpdate: String = "true"
        var binaryPath: String = ""
        var disabledNotifications: MutableList<String> = mutableListOf()
        var lastTarget: String = ""
    }

    private var bean = Bean()

    override fun getState(): Bean = bean

    override fun loadState(state: Bean) {
        bean = state
    }

    var settings: MirrordSettings
        get() = MirrordSettings(
            bean.enableOnStartup, bean.autoUpdate, bean.binaryPath,
            bean.disabledNotifications.mapNotNull { n -> NotificationId.entries.firstOrNull { it.name == n } }.toSet(),
            bean.lastTarget,
        )
        set(s) {
            bean = Bean().apply {
                enableOnStartup = s.enableOnStartup
                autoUpdate = s.autoUpdate
                binaryPath = s.binaryPath
                disabledNotifications = s.disabledNotifications.map { it.name }.sorted().toMutableList()
                lastTarget = s.lastTarget
            }
        }

    companion object {
        fun get(): MirrordSettingsState = ApplicationManager.getApplication().getService(MirrordSettingsState::class.java)
    }
}
