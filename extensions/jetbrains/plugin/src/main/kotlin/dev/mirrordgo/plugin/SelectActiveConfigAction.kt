package dev.mirrordgo.plugin

import com.intellij.openapi.actionSystem.ActionUpdateThread
import com.intellij.openapi.actionSystem.AnAction
import com.intellij.openapi.actionSystem.AnActionEvent
import com.intellij.openapi.progress.ProgressManager
import com.intellij.openapi.project.DumbAware
import com.intellij.openapi.ui.popup.JBPopupFactory
import dev.mirrordgo.core.config.ConfigFiles
import dev.mirrordgo.gen.ConfigDiscoverParams

/**
 * "Select active config": the daemon's candidates for the project (every
 * `.mirrord` file and `*mirrord.*`), default discovery first. The choice
 * lives in memory for this project, as upstream's does.
 */
class SelectActiveConfigAction : AnAction("Select Active mirrord Config"), DumbAware {
    override fun getActionUpdateThread(): ActionUpdateThread = ActionUpdateThread.BGT

    override fun update(e: AnActionEvent) {
        e.presentation.isEnabled = e.project?.basePath != null
    }

    override fun actionPerformed(e: AnActionEvent) {
        val project = e.project ?: return
        val dir = project.basePath ?: return
        val state = MirrordProjectState.of(project)
        val disc = try {
            ProgressManager.getInstance().runProcessWithProgressSynchronously<dev.mirrordgo.gen.ConfigDiscoverResult, Exception>(
                { MirrordService.get().holder.get().discover(ConfigDiscoverParams(workspaceFolder = dir)) },
                "Finding mirrord configs", true, project,
            )
        } catch (ex: Exception) {
            Notifier.error(project, ex)
            return
        }
        val items = ConfigFiles.menuItems(dir, disc.candidates, state.activeConfig, disc.default.ifEmpty { null })
        JBPopupFactory.getInstance()
            .createPopupChooserBuilder(items.map { it.first })
            .setTitle("mirrord: Active Config")
            .setItemChosenCallback { label -> state.activeConfig = items.first { it.first == label }.second }
            .createPopup()
            .showCenteredInCurrentWindow(project)
    }
}
