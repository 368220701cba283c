package dev.mirrordgo.core.launch

/** The kind of run configuration, for the variables its debugger needs. */
enum class RunKind { JVM, GRADLE, MAVEN, GO, PYTHON, NODE, OTHER }

/**
 * How a session's env becomes a launch's env. The daemon's answer is the
 * source of truth: its env wins over the run configuration's, and its
 * unset keys leave the launch (they would undo the injection).
 */
object EnvMerge {
    /** Set on an injected launch, so a relaunch of the same env is recognised as stale. */
    const val INJECTED = "__MIRRORD_EXT_INJECTED"

    /**
     * Variables that keep the debugger's own processes and ports out of
     * mirrord's way, per product, as upstream's plugin adds them.
     */
    fun debuggerEnv(kind: RunKind): Map<String, String> {
        val out = linkedMapOf("MIRRORD_IGNORE_DEBUGGER_PORTS" to "35000-65535")
        when (kind) {
            RunKind.JVM, RunKind.GRADLE, RunKind.MAVEN -> out["MIRRORD_DETECT_DEBUGGER_PORT"] = "javaagent"
            RunKind.PYTHON -> out["MIRRORD_DETECT_DEBUGGER_PORT"] = "pydevd"
            RunKind.GO -> out["MIRRORD_SKIP_PROCESSES"] = "dlv;debugserver;go"
            RunKind.NODE, RunKind.OTHER -> {}
        }
        return out
    }

    /**
     * The env sent to sessions/start: the IDE's env, the debugger's
     * variables, then the run configuration's (the user's values win).
     * The runner reads KUBECONFIG and MIRRORD_* from it.
     */
    fun launchEnv(ideEnv: Map<String, String>, kind: RunKind, runEnv: Map<String, String>): Map<String, String> =
        LinkedHashMap(ideEnv).apply {
            putAll(debuggerEnv(kind))
            putAll(runEnv)
        }

    /**
     * The env the IDE sets on the launched process: the run configuration's
     * env plus the debugger's variables, the session's env over it, its
     * unset keys removed, and the injection marker. The IDE's own env is
     * inherited by the process anyway, so it is not copied in; [unset]
     * keys are returned for the adapter to remove from the inherited env.
     */
    fun inject(kind: RunKind, runEnv: Map<String, String>, sessionEnv: Map<String, String>, unset: List<String>): Injection {
        val env = LinkedHashMap(debuggerEnv(kind)).apply {
            putAll(runEnv)
            putAll(sessionEnv)
            unset.forEach { remove(it) }
            put(INJECTED, "true")
        }
        return Injection(env, unset.toSet())
    }
}

/** The launch's env changes: [env] to set, [unset] to remove (also from the inherited IDE env). */
data class Injection(val env: Map<String, String>, val unset: Set<String>) {
    /** The complete env of a child of a parent whose env is [parent]: what the process sees. */
    fun applyTo(parent: Map<String, String>): Map<String, String> =
        LinkedHashMap(parent).apply {
            unset.forEach { remove(it) }
            putAll(env)
        }
}

/**
 * A JVM run configuration's env parameters (JavaParameters' env and
 * passParentEnvs): [env] is set on the process, which also inherits the
 * IDE's env when [passParentEnvs].
 */
data class JavaEnv(val env: Map<String, String>, val passParentEnvs: Boolean) {
    /** The complete env of the launched process when the IDE's env is [ideEnv]. */
    fun processEnv(ideEnv: Map<String, String>): Map<String, String> = if (passParentEnvs) ideEnv + env else env

    companion object {
        /**
         * The IntelliJ adapter's decision: the parameters' env gets the
         * injection; when keys must be unset and the IDE's env would be
         * inherited, it is copied in and no longer inherited, so that the
         * unset keys really leave the process.
         */
        fun inject(injection: Injection, paramsEnv: Map<String, String>, passParentEnvs: Boolean, ideEnv: Map<String, String>): JavaEnv =
            if (injection.unset.isNotEmpty() && passParentEnvs) JavaEnv(injection.applyTo(ideEnv + paramsEnv), passParentEnvs = false)
            else JavaEnv(injection.applyTo(paramsEnv), passParentEnvs)
    }
}
