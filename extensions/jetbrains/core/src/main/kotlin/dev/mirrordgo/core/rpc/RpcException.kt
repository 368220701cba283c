package dev.mirrordgo.core.rpc

import dev.mirrordgo.gen.ErrorCodes
import dev.mirrordgo.gen.Issue

/**
 * The data of a mirrord error response (daemon/api ErrorData). The
 * category is also the code; help is the fix the daemon suggests, issues
 * are positioned config problems.
 */
data class ErrorData(
    val category: String = "",
    val help: String? = null,
    val issues: List<Issue> = emptyList(),
)

/** A JSON-RPC error answer, or a connection that ended before the answer came. */
class RpcException(
    val code: Int,
    message: String,
    val data: ErrorData? = null,
    cause: Throwable? = null,
) : Exception(message, cause) {
    val isConfig: Boolean get() = code == ErrorCodes.CONFIG

    companion object {
        /** The code of a request that never got an answer (connection closed); not a JSON-RPC code. */
        const val CONNECTION_CLOSED = -32099
    }
}
