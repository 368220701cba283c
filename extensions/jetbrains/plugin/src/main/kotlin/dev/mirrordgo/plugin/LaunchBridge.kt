package dev.mirrordgo.plugin

import com.intellij.execution.ExecutionException
import com.intellij.execution.process.ProcessEvent
import com.intellij.execution.process.ProcessHandler
import com.intellij.execution.process.ProcessListener
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.application.ModalityState
import com.intellij.openapi.progress.ProgressManager
import com.intellij.openapi.project.Project
import dev.mirrordgo.core.launch.ConfigChoice
import dev.mirrordgo.core.launch.Decision
import dev.mirrordgo.core.launch.LaunchFacts
import dev.mirrordgo.core.launch.LaunchRequest
import dev.mirrordgo.core.launch.LaunchRule
import dev.mirrordgo.core.launch.LaunchUi
import dev.mirrordgo.core.launch.Launcher
import dev.mirrordgo.core.launch.PreparedLaunch
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.core.settings.NotificationId
import dev.mirrordgo.core.targets.TargetChoice
import dev.mirrordgo.core.targets.TargetDialogModel
import java.util.concurrent.ConcurrentHashMap

/**
 * What every run-configuration adapter does, in one place so the
 * adapters stay a few lines each: apply core's launch rule, run core's
 * [Launcher] under a progress indicator, and tie the session to the
 * process so it stops when the process ends.
 */
object LaunchBridge {
    /** Sessions started for a configuration whose process handler does not exist yet (patch, then attach). */
    private val pending = ConcurrentHashMap<Any, String>()

    /**
     * The launch's preparation, or null when it does not run under mirrord.
     * A refused or failed launch is an ExecutionException (the IDE shows
     * it and does not start the process) plus a notification with the fix.
     */
    fun prepare(project: Project, kind: RunKind, runEnv: Map<String, String>, name: String, workingDir: String?, buildOnly: Boolean = false): PreparedLaunch? {
        val state = MirrordProjectState.of(project)
        when (val d = LaunchRule.decide(state.enabled, LaunchFacts(runEnv, name, buildOnly))) {
            is Decision.Skip -> return null
            is Decision.Refuse -> throw ExecutionException("mirrord: ${d.message}")
            is Decision.Run -> {}
        }
        val settings = MirrordSettingsState.get()
        val req = LaunchRequest(kind, runEnv, System.getenv(), project.basePath, workingDir, state.activeConfig, settings.settings.lastTarget.ifEmpty { null })
        val work = {
            val indicator = ProgressManager.getInstance().progressIndicator
            Launcher(MirrordService.get().holder.get()).prepare(req, Ui(project, indicator))
        }
        return try {
            if (ApplicationManager.getApplication().isDispatchThread) {
                ProgressManager.getInstance().runProcessWithProgressSynchronously<PreparedLaunch, Exception>(work, "Starting mirrord", true, project)
            } else {
                work() // already off the UI thread (the IDE prepares most launches in the background)
            }
        } catch (e: Exception) {
            Notifier.error(project, e)
            throw ExecutionException("mirrord: ${e.message}", e)
        }
    }

    /** Remembers the session until [attach] sees the process (same key: the run configuration). */
    fun remember(key: Any, prepared: PreparedLaunch) {
        pending[key] = prepared.sessionId
    }

    /** The process exists: stop the session when it terminates. */
    fun attach(key: Any, handler: ProcessHandler) {
        val id = pending.remove(key) ?: return
        track(handler, id)
    }

    fun track(handler: ProcessHandler, sessionId: String) {
        val tracker = MirrordService.get().tracker
        tracker.started(handler, sessionId)
        handler.addProcessListener(object : ProcessListener {
            override fun processTerminated(event: ProcessEvent) {
                ApplicationManager.getApplication().executeOnPooledThread { tracker.ended(handler) }
            }
        })
    }

    private class Ui(private val project: Project, private val indicator: com.intellij.openapi.progress.ProgressIndicator?) : LaunchUi {
        override fun chooseTarget(model: TargetDialogModel): TargetChoice? {
            var out: TargetChoice? = null
            // The dialog needs the UI thread; the launch waits for it here, off the UI thread.
            ApplicationManager.getApplication().invokeAndWait({
                val dialog = TargetDialog(project, model)
                if (dialog.showAndGet()) out = dialog.selected()?.let(model::choose)
            }, ModalityState.any())
            out?.target?.let { t ->
                val s = MirrordSettingsState.get()
                s.settings = s.settings.copy(lastTarget = t)
            }
            if (out != null && out!!.target == null) Notifier.info(project, "mirrord runs targetless: no pod's traffic, files or env.", NotificationId.TARGETLESS)
            return out
        }

        override fun progress(text: String) {
            indicator?.text2 = text
        }

        override fun usingConfig(choice: ConfigChoice) {
            Notifier.info(project, "mirrord uses ${choice.path} (${choice.source.label}).", NotificationId.USING_CONFIG)
        }

        override fun warn(text: String) {
            if (MirrordSettingsState.get().settings.shows(NotificationId.SESSION_WARNINGS)) Notifier.warn(project, text)
        }
    }
}
