package dev.mirrordgo.core.daemon

import java.io.Closeable

/**
 * The daemon connection of an IDE: connected on first use, replaced when
 * it closed (the daemon stopped or idled out) or when the binary or update
 * policy changed. A replaced connection that sessions still run on stays
 * open until the last of them stopped ([released]): a session can only be
 * stopped through the daemon it was started on (each build's daemon has
 * its own socket, and another one answers "no session"), and the daemon
 * does not stop a client's sessions when the client disconnects, so
 * closing it early would leave the runner and the agent Job running.
 * Generic over the connection so that the rules are unit-tested.
 */
class DaemonHolder<C : Closeable>(
    private val connect: () -> C,
    private val isOpen: (C) -> Boolean,
    /** Whether sessions still run on the connection. */
    private val inUse: (C) -> Boolean,
) {
    private var current: C? = null
    private var stale = false
    private val retired = mutableListOf<C>()

    @Synchronized
    fun get(): C {
        val c = current
        if (c != null && isOpen(c) && !stale) return c
        current = null
        if (c != null) retire(c)
        stale = false
        return connect().also { current = it }
    }

    /** The settings changed: the next [get] connects anew (sessions on the old connection keep it). */
    @Synchronized
    fun markStale() {
        stale = true
    }

    /** A session on [c] stopped: a replaced connection without sessions is closed now. */
    @Synchronized
    fun released(c: Any) {
        val r = retired.firstOrNull { it === c } ?: return
        if (isOpen(r) && inUse(r)) return
        retired.remove(r)
        runCatching { r.close() }
    }

    @Synchronized
    fun close() {
        current?.let { runCatching { it.close() } }
        current = null
        retired.forEach { runCatching { it.close() } }
        retired.clear()
    }

    private fun retire(c: C) {
        if (isOpen(c) && inUse(c)) retired += c else runCatching { c.close() }
    }
}
