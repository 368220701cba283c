package dev.mirrordgo.core.daemon

/**
 * Keeps the last few KiB of a child's stderr. The bridge prints why it
 * could not reach or start the daemon there, and that text is the error
 * the user sees; an unread stderr pipe would also block the child.
 */
internal class StderrTail(proc: Process, private val limit: Int = 8192) {
    private val buf = StringBuilder()

    init {
        Thread({
            // Ends with the stream: at the child's exit, or when close() destroys it.
            runCatching {
                proc.errorStream.bufferedReader().useLines { lines ->
                    lines.forEach { line ->
                        synchronized(buf) {
                            buf.append(line).append('\n')
                            if (buf.length > limit) buf.delete(0, buf.length - limit)
                        }
                    }
                }
            }
        }, "mirrord-daemon-stderr").apply { isDaemon = true }.start()
    }

    fun text(): String {
        // The child has exited when we are asked; give the reader a moment to drain.
        Thread.sleep(50)
        return synchronized(buf) { buf.toString().trim() }
    }
}
