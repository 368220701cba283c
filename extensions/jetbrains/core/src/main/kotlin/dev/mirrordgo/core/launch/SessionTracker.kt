package dev.mirrordgo.core.launch

import java.util.concurrent.ConcurrentHashMap

/**
 * Which session each running launch holds, so that the session stops when
 * the process ends (the adapters call [ended] from a ProcessListener) and
 * "Stop mirrord sessions" stops exactly this IDE's. A key is whatever the
 * adapter has for the process (its ProcessHandler).
 */
class SessionTracker(private val stop: (String) -> Unit) {
    private val sessions = ConcurrentHashMap<Any, String>()

    fun started(key: Any, sessionId: String) {
        sessions[key] = sessionId
    }

    /** The process ended: stop its session once (a second call does nothing). */
    fun ended(key: Any) {
        val id = sessions.remove(key) ?: return
        stop(id)
    }

    fun stopAll() {
        for (key in sessions.keys.toList()) ended(key)
    }

    val running: Int get() = sessions.size
}
