package dev.mirrordgo.plugin

import com.intellij.execution.ExecutionException
import com.intellij.execution.configurations.RunConfigurationBase
import com.intellij.execution.process.ProcessEvent
import com.intellij.execution.process.ProcessHandler
import com.intellij.execution.process.ProcessListener
import com.intellij.execution.runners.ExecutionEnvironment
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
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CopyOnWriteArrayList

/**
 * What every run-configuration adapter does, in one place so the
 * adapters stay a few lines each: apply core's launch rule, run core's
 * [Launcher] under a progress indicator, and tie the session to the
 * process so it stops when the process ends, or to the execution so it
 * stops when the launch fails before its process started.
 */
object LaunchBridge {
    /** Configuration-keyed launches whose process does not exist yet, oldest first. */
    private val pending = ConcurrentLinkedQueue<Pending>()

    /** Changes to stored run configurations to undo once their launch started or failed. */
    private val undos = ConcurrentHashMap<Any, MutableList<() -> Unit>>()

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

    /**
     * Ties [prepared]'s session to the execution [env]: [started] moves it to the process, [notStarted] stops it.
     * [apply] then changes the launch; if it fails, the session is stopped and the failure rethrown.
     */
    fun remember(env: ExecutionEnvironment, prepared: PreparedLaunch, apply: () -> Unit) {
        tracker().started(env, prepared.daemon, prepared.sessionId)
        guarded(env, apply)
    }

    /**
     * For adapters whose extension point shows only the configuration (no ExecutionEnvironment): one key per
     * launch, so parallel runs of one configuration each keep their session; [attach] takes the oldest.
     */
    fun remember(configuration: RunConfigurationBase<*>, prepared: PreparedLaunch, apply: () -> Unit) {
        val key = Pending(configuration)
        pending += key
        tracker().started(key, prepared.daemon, prepared.sessionId)
        guarded(key) {
            try { apply() } catch (e: Throwable) { pending.remove(key); throw e }
        }
    }

    /** Undoes a change to the stored run configuration once the launch [key] (an execution or a configuration) started or failed. */
    fun undoAfterStart(key: Any, undo: () -> Unit) {
        undos.computeIfAbsent(key) { CopyOnWriteArrayList() } += undo
    }

    /** The process of a configuration-keyed launch exists: stop the session when it terminates. */
    fun attach(configuration: RunConfigurationBase<*>, handler: ProcessHandler) {
        val key = pending.firstOrNull { it.configuration === configuration } ?: return
        if (pending.remove(key)) track(key, handler)
    }

    /** The execution's process started ([LaunchExecutionListener]). */
    fun started(env: ExecutionEnvironment, handler: ProcessHandler) {
        undo(env)
        track(env, handler)
    }

    /**
     * The execution failed before its process started: its session stops. A configuration-keyed session
     * cannot be told from a parallel run's of the same configuration that is between patch and attach;
     * it is stopped too rather than leaked.
     */
    fun notStarted(env: ExecutionEnvironment) {
        undo(env)
        val keys = mutableListOf<Any>(env)
        for (p in pending.filter { it.configuration === env.runProfile }) if (pending.remove(p)) keys += p
        val tracker = tracker()
        ApplicationManager.getApplication().executeOnPooledThread { keys.forEach(tracker::ended) }
    }

    private fun undo(env: ExecutionEnvironment) {
        for (key in listOf<Any>(env, env.runProfile)) undos.remove(key)?.forEach { runCatching { it() } }
    }

    private fun guarded(key: Any, apply: () -> Unit) {
        try {
            apply()
        } catch (e: Throwable) {
            val tracker = tracker()
            ApplicationManager.getApplication().executeOnPooledThread { tracker.ended(key) }
            throw e
        }
    }

    private fun track(key: Any, handler: ProcessHandler) {
        val tracker = tracker()
        if (!tracker.moved(key, handler)) return
        handler.addProcessListener(object : ProcessListener {
            override fun processTerminated(event: ProcessEvent) {
                ApplicationManager.getApplication().executeOnPooledThread { tracker.ended(handler) }
            }
        })
    }

    private fun tracker() = MirrordService.get().tracker

    /** One configuration-keyed launch between patch and attach (identity: one per launch). */
    private class Pending(val configuration: RunConfigurationBase<*>)

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
