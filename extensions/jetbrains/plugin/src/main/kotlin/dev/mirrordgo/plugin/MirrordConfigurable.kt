package dev.mirrordgo.plugin

import com.intellij.openapi.options.Configurable
import com.intellij.openapi.options.ConfigurationException
import com.intellij.ui.components.JBCheckBox
import com.intellij.ui.components.JBTextField
import com.intellij.util.ui.FormBuilder
import dev.mirrordgo.core.settings.MirrordSettings
import dev.mirrordgo.core.settings.NotificationId
import java.io.File
import javax.swing.JComponent

/** Settings | Tools | mirrord. Validation and "what changed" are core's [MirrordSettings] rules. */
class MirrordConfigurable : Configurable {
    private val enable = JBCheckBox("Enable mirrord on startup")
    private val autoUpdate = JBTextField()
    private val binaryPath = JBTextField()
    private val notifications = NotificationId.entries.associateWith { JBCheckBox(it.title) }

    override fun getDisplayName(): String = "mirrord"

    override fun createComponent(): JComponent {
        val b = FormBuilder.createFormBuilder()
            .addComponent(enable)
            .addLabeledComponent("Auto-update (on, off or a version):", autoUpdate)
            .addLabeledComponent("mirrord binary (empty: PATH or the managed download):", binaryPath)
            .addSeparator()
        notifications.values.forEach { b.addComponent(it) }
        reset()
        return b.addComponentFillVertically(javax.swing.JPanel(), 0).panel
    }

    private fun form(): MirrordSettings = MirrordSettingsState.get().settings.copy(
        enableOnStartup = enable.isSelected,
        autoUpdate = autoUpdate.text.trim(),
        binaryPath = binaryPath.text.trim(),
        disabledNotifications = notifications.filterValues { !it.isSelected }.keys,
    )

    override fun isModified(): Boolean = form() != MirrordSettingsState.get().settings

    override fun apply() {
        val next = form()
        val problems = next.validate { File(it).let { f -> f.isFile && f.canExecute() } }
        if (problems.isNotEmpty()) throw ConfigurationException(problems.joinToString("\n"))
        val state = MirrordSettingsState.get()
        val old = state.settings
        state.settings = next
        if (next.needsReconnect(old)) MirrordService.get().holder.markStale()
    }

    override fun reset() {
        val s = MirrordSettingsState.get().settings
        enable.isSelected = s.enableOnStartup
        autoUpdate.text = s.autoUpdate
        binaryPath.text = s.binaryPath
        notifications.forEach { (id, box) -> box.isSelected = s.shows(id) }
    }
}
