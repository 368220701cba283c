package dev.mirrordgo.plugin

import com.intellij.notification.NotificationAction
import com.intellij.notification.NotificationGroupManager
import com.intellij.notification.NotificationType
import com.intellij.openapi.fileEditor.OpenFileDescriptor
import com.intellij.openapi.project.Project
import com.intellij.openapi.vfs.LocalFileSystem
import dev.mirrordgo.core.launch.UserMessages
import dev.mirrordgo.core.settings.NotificationId

/**
 * Balloons of the "mirrord" notification group. Texts come from core's
 * [UserMessages]; this adds the IDE actions: "Open config" at the problem's
 * position, and "Don't show again" for the notifications a user may mute.
 */
object Notifier {
    private const val GROUP = "mirrord"

    // Null only if plugin.xml did not register the group (the API is @Nullable).
    private fun group() = NotificationGroupManager.getInstance().getNotificationGroup(GROUP)

    fun error(project: Project?, e: Throwable) {
        val m = UserMessages.of(e)
        val n = group()?.createNotification(m.title, m.text, NotificationType.ERROR) ?: return
        val problem = m.openConfig
        if (project != null && problem?.file != null) {
            n.addAction(NotificationAction.createSimpleExpiring("Open config") {
                val vf = LocalFileSystem.getInstance().refreshAndFindFileByPath(problem.file!!) ?: return@createSimpleExpiring
                OpenFileDescriptor(project, vf, problem.line - 1, problem.col - 1).navigate(true)
            })
        }
        n.notify(project)
    }

    fun warn(project: Project?, text: String) = show(project, text, NotificationType.WARNING, null)

    /** An info the user can mute; muted ones are not shown at all. */
    fun info(project: Project?, text: String, id: NotificationId) = show(project, text, NotificationType.INFORMATION, id)

    private fun show(project: Project?, text: String, type: NotificationType, id: NotificationId?) {
        val state = MirrordSettingsState.get()
        if (id != null && !state.settings.shows(id)) return
        val n = group()?.createNotification("mirrord", text, type) ?: return
        if (id != null) n.addAction(NotificationAction.createSimpleExpiring("Don't show again") { state.settings = state.settings.hide(id) })
        n.notify(project)
    }
}
