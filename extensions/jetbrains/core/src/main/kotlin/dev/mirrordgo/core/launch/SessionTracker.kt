package dev.mirrordgo.core.launch

import java.util.concurrent.ConcurrentHashMap

/**
 * Which session each launch holds, and on which daemon connection [C] it
 * was started, so that the session stops when the process ends (the
 * adapters call [ended] from a ProcessListener) and "Stop mirrord
 * sessions" stops exactly this IDE's. A key is whatever the adapter has
 * for the launch: its execution until the process exists ([moved] then
 * re-keys it), then its ProcessHandler. The stop goes through the
 * session's own connection: after a binary or update setting changed, the
 * current connection may be another build's daemon, which does not know
 * the session.
 */
class SessionTracker<C : Any>(private val stop: (C, String) -> Unit) {
    private class Held<C>(val daemon: C, val id: String)

    private val sessions = ConcurrentHashMap<Any, Held<C>>()

    fun started(key: Any, daemon: C, sessionId: String) {
        sessions[key] = Held(daemon, sessionId)
    }

    /** The launch [from] became the process [to]; false when [from] holds no session (stopped already). */
    fun moved(from: Any, to: Any): Boolean {
        val h = sessions.remove(from) ?: return false
        sessions[to] = h
        return true
    }

    /** The process ended (or never started): stop its session once (a second call does nothing). */
    fun ended(key: Any) {
        val h = sessions.remove(key) ?: return
        stop(h.daemon, h.id)
    }

    fun stopAll() {
        for (key in sessions.keys.toList()) ended(key)
    }

    /** Whether a session still runs on [daemon] (its connection must then stay open). */
    fun holds(daemon: Any): Boolean = sessions.values.any { it.daemon === daemon }

    val running: Int get() = sessions.size
}
