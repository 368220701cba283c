package dev.mirrordgo.core.daemon

/**
 * The one daemon connection of an IDE: connected on first use, replaced
 * when it closed (the daemon stopped or idled out) or when the binary or
 * update policy changed, but never while a launch still holds a session
 * on it (that session would be stopped by the old connection's close).
 */
class DaemonHolder(private val connect: () -> DaemonClient, private val busy: () -> Boolean) {
    private var current: DaemonClient? = null
    private var stale = false

    @Synchronized
    fun get(): DaemonClient {
        val c = current
        if (c != null && c.isOpen && !(stale && !busy())) return c
        if (c != null) runCatching { c.close() }
        stale = false
        return connect().also { current = it }
    }

    /** The settings changed: the next [get] without sessions reconnects. */
    @Synchronized
    fun markStale() {
        stale = true
    }

    @Synchronized
    fun close() {
        current?.let { runCatching { it.close() } }
        current = null
    }
}
