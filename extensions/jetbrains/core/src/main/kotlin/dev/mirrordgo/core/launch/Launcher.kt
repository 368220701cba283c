package dev.mirrordgo.core.launch

import dev.mirrordgo.core.daemon.Daemon
import dev.mirrordgo.core.targets.TargetChoice
import dev.mirrordgo.core.targets.TargetDialogModel
import dev.mirrordgo.gen.ConfigDiscoverParams
import dev.mirrordgo.gen.ConfigResolveParams
import dev.mirrordgo.gen.SessionsStartParams
import dev.mirrordgo.gen.TargetsListParams

/** One launch the IDE is about to start, as the adapters describe it. */
data class LaunchRequest(
    val kind: RunKind,
    /** The run configuration's env (with MIRRORD_ACTIVE, MIRRORD_CONFIG_FILE when the user set them). */
    val runEnv: Map<String, String>,
    /** The IDE process's env: the launched process inherits it, and the runner needs KUBECONFIG and PATH from it. */
    val ideEnv: Map<String, String>,
    val projectDir: String?,
    val workingDir: String?,
    /** The active config picked in the toolbar menu, absolute. */
    val activeConfig: String?,
    /** The last target picked in the dialog (a setting), shown first. */
    val recentTarget: String?,
)

/** What the IDE side does for the launcher: the dialog, progress, notifications. */
interface LaunchUi {
    /** Shows the target dialog; null when the user cancelled it (the launch is then cancelled). */
    fun chooseTarget(model: TargetDialogModel): TargetChoice?

    /** Progress text of the session start (from `$/progress`). */
    fun progress(text: String) {}

    /** Which config is used and why (a notification the user can switch off). */
    fun usingConfig(choice: ConfigChoice) {}

    /** A warning of the config or the session. */
    fun warn(text: String) {}
}

/**
 * A launch that runs under a session: apply [injection], then stop [sessionId] when the process ends, through
 * [daemon], the connection it was started on (another build's daemon has its own socket and does not know it).
 */
data class PreparedLaunch(val sessionId: String, val target: String, val reused: Boolean, val injection: Injection, val config: ConfigChoice, val daemon: Daemon)

/** The user cancelled the target dialog. */
class LaunchCancelled : Exception("the mirrord target dialog was cancelled")

/**
 * The session start of one launch, the same sequence as the VS Code
 * extension's so that both IDEs behave alike: discover the config, pick
 * it, resolve it (errors become a positioned [ConfigProblem]), open the
 * target dialog only when the config names no target, start the session
 * and compute the launch's env. Blocking: the adapters run it under a
 * background progress indicator, never on the UI thread.
 */
class Launcher(private val daemon: Daemon) {
    fun prepare(req: LaunchRequest, ui: LaunchUi): PreparedLaunch {
        val env = EnvMerge.launchEnv(req.ideEnv, req.kind, req.runEnv)
        val discovered = req.projectDir?.let { daemon.discover(ConfigDiscoverParams(workspaceFolder = it, env = env)).default }
        val choice = ConfigChooser.choose(req.activeConfig, req.runEnv, req.projectDir, discovered)
        val resolved = try {
            daemon.resolve(ConfigResolveParams(path = choice.path, env = env, cwd = req.workingDir ?: req.projectDir))
        } catch (e: Exception) {
            throw ConfigProblem.from(e, choice.path, req.projectDir)
        }
        if (resolved.errors.isNotEmpty()) throw ConfigProblem.of(resolved.errors, choice.path, req.projectDir)
        resolved.warnings.forEach { ui.warn(it.message) }
        if (choice.path != null) ui.usingConfig(choice)

        var target: String? = null
        var namespace: String? = null
        if (!resolved.targetSet) {
            val model = TargetDialogModel({ ns -> daemon.targets(TargetsListParams(configPath = choice.path, env = env, namespace = ns)) }, req.recentTarget)
            val picked = ui.chooseTarget(model) ?: throw LaunchCancelled()
            // The CLI accepts the literal "targetless", so the daemon never guesses what an absent target meant.
            target = picked.target ?: TARGETLESS
            namespace = picked.namespace.ifEmpty { null }
        }
        val res = daemon.startSession(
            SessionsStartParams(
                configPath = choice.path,
                target = target,
                namespace = namespace,
                launchEnv = env,
                cwd = req.workingDir ?: req.projectDir,
                debuggerType = req.kind.name.lowercase(),
            ),
            ui::progress,
        )
        res.warnings.forEach(ui::warn)
        val injection = EnvMerge.inject(req.kind, req.runEnv, res.env, res.unset)
        return PreparedLaunch(res.sessionId, res.target, res.reused, injection, choice, daemon)
    }

    companion object {
        const val TARGETLESS = "targetless"
    }
}
