package dev.mirrordgo.core.launch

import dev.mirrordgo.core.rpc.RpcException
import dev.mirrordgo.gen.ErrorCodes

/** A notification's text: what went wrong and, when known, what fixes it. */
data class UserMessage(val title: String, val text: String, val openConfig: ConfigProblem? = null)

/**
 * Errors are user interface: every failure of a launch becomes one
 * notification that names the problem and the fix. The daemon's error
 * category (its JSON-RPC code) picks the title, and its help text is the
 * fix; a config problem carries its position for "Open config".
 */
object UserMessages {
    fun of(e: Throwable): UserMessage = when (e) {
        is ConfigProblem -> UserMessage("mirrord: the config has errors", "${e.message}. Fix the config and run again.", e)
        is LaunchCancelled -> UserMessage("mirrord", "Launch cancelled: no target was chosen.")
        is RpcException -> {
            val title = when (e.code) {
                ErrorCodes.CONFIG -> "mirrord: the config has errors"
                ErrorCodes.CLUSTER -> "mirrord: the cluster refused"
                ErrorCodes.NETWORK -> "mirrord: no answer"
                ErrorCodes.USER -> "mirrord"
                RpcException.CONNECTION_CLOSED -> "mirrord: the daemon went away"
                else -> "mirrord: internal error"
            }
            val help = e.data?.help?.takeIf { it.isNotBlank() }
            val fix = help ?: when (e.code) {
                RpcException.CONNECTION_CLOSED -> "Run again: the plugin starts a new daemon. If it keeps happening, run `mirrord daemon status` and attach its log file to a bug report."
                ErrorCodes.INTERNAL -> "Please report it with the daemon's log (`mirrord daemon status` names it)."
                else -> null
            }
            UserMessage(title, listOfNotNull(e.message, fix).joinToString(". "))
        }
        else -> UserMessage("mirrord", e.message ?: e.toString())
    }
}
