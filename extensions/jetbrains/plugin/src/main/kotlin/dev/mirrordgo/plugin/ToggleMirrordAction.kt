package dev.mirrordgo.plugin

import com.intellij.openapi.actionSystem.ActionUpdateThread
import com.intellij.openapi.actionSystem.AnActionEvent
import com.intellij.openapi.project.DumbAwareToggleAction

/** "Enable/Disable mirrord" in the main toolbar: the per-project toggle of the launch rule. */
class ToggleMirrordAction : DumbAwareToggleAction() {
    override fun getActionUpdateThread(): ActionUpdateThread = ActionUpdateThread.BGT

    override fun isSelected(e: AnActionEvent): Boolean = e.project?.let { MirrordProjectState.of(it).enabled } ?: false

    override fun setSelected(e: AnActionEvent, state: Boolean) {
        val project = e.project ?: return
        MirrordProjectState.of(project).enabled = state
    }

    override fun update(e: AnActionEvent) {
        super.update(e)
        val on = isSelected(e)
        e.presentation.isEnabled = e.project != null
        e.presentation.text = if (on) "Disable mirrord" else "Enable mirrord"
    }
}
