package dev.mirrordgo.core.launch

/** What the plugin does with one run or debug launch. */
sealed class Decision {
    /** Runs under mirrord; [why] is for the log ("toggle", "MIRRORD_ACTIVE=1"). */
    data class Run(val why: String) : Decision()

    /** Runs untouched. */
    data class Skip(val why: String) : Decision()

    /** Stops the launch: it would run under a stale session. [message] names the variable and the fix. */
    data class Refuse(val message: String) : Decision()
}

/** The facts about a launch that the rule reads; the adapters fill it from a run configuration. */
data class LaunchFacts(
    /** The run configuration's own env (not the IDE's). */
    val env: Map<String, String>,
    /** The run configuration's name, for upstream's "Build …" and "Tomcat…" exclusions. */
    val configurationName: String = "",
    /** A Gradle run whose tasks are all build tasks (compile, assemble, build, jar …). */
    val buildOnly: Boolean = false,
)

/**
 * The rule that decides whether a launch runs under mirrord, as upstream's
 * plugin does it: MIRRORD_ACTIVE in the run configuration's env wins over
 * the toolbar toggle ("1" on, "0" off, compared as strings); build
 * launches are skipped unless MIRRORD_FORCE_RUN=true; and an env that
 * still carries an earlier session's injection is refused even when
 * mirrord is off, because that program would join a session nobody owns.
 */
object LaunchRule {
    const val ACTIVE = "MIRRORD_ACTIVE"
    const val FORCE_RUN = "MIRRORD_FORCE_RUN"

    fun decide(toggle: Boolean, facts: LaunchFacts): Decision {
        stale(facts.env)?.let { return Decision.Refuse(it) }
        val active = facts.env[ACTIVE]
        val forced = facts.env[FORCE_RUN].equals("true", ignoreCase = true)
        val building = facts.buildOnly || facts.configurationName.startsWith("Build ") || facts.configurationName.startsWith("Tomcat")
        if (building && !forced) return Decision.Skip("a build launch (set $FORCE_RUN=true to run it under mirrord)")
        return when {
            active == "1" -> Decision.Run("$ACTIVE=1")
            active == "0" -> Decision.Skip("$ACTIVE=0")
            toggle -> Decision.Run("the mirrord toggle is on")
            else -> Decision.Skip("the mirrord toggle is off")
        }
    }

    /** Whether the target dialog opens: mirrord runs and the config names no target. */
    fun needsTargetDialog(decision: Decision, configHasTarget: Boolean): Boolean =
        decision is Decision.Run && !configHasTarget

    /** Why the env looks like an earlier injection, or null. */
    fun stale(env: Map<String, String>): String? {
        for (key in listOf(EnvMerge.INJECTED, "MIRRORD_RESOLVED_CONFIG", "MIRRORD_LAYER_SOCKET")) {
            if (env.containsKey(key)) return "the run configuration's environment holds $key from an earlier mirrord session: remove it and run again"
        }
        for (key in listOf("LD_PRELOAD", "DYLD_INSERT_LIBRARIES")) {
            val v = env[key] ?: continue
            if (v.contains("libmirrord") || v.contains("mirrord-bootstrap")) {
                return "the run configuration's $key loads mirrord ($v): remove it and run again; the plugin injects mirrord itself"
            }
        }
        return null
    }
}
