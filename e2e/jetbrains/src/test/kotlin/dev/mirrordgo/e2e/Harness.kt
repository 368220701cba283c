package dev.mirrordgo.e2e

import dev.mirrordgo.core.daemon.DaemonClient
import java.io.File
import java.util.concurrent.TimeUnit

/**
 * What the e2e tests share: the real mirrord binary, the env an IDE
 * process would have (build.sh runs these tests in the laptop network
 * namespace with a fresh HOME and XDG_RUNTIME_DIR), and helpers to run
 * commands. Nothing here fakes the daemon or the cluster.
 */
object Harness {
    const val NAMESPACE = "mirrord-e2e"
    const val REMOTE_TEXT = "if you can read this, the remote file system works"

    val binary: String = need("MIRRORD_BIN")
    val kubectl: String = need("KUBECTL")
    /** The "IDE's" env: what a plugin running in this JVM would see. */
    val ideEnv: Map<String, String> = System.getenv()

    private fun need(name: String): String =
        System.getenv(name)?.takeIf { it.isNotEmpty() } ?: error("$name is not set: run these tests through extensions/jetbrains/tools/build.sh (make jetbrains)")

    /** Connects the way the plugin does: `mirrord daemon connect`, which autostarts the daemon. */
    fun connect(): DaemonClient = DaemonClient.connect(binary, ideEnv, "e2e")

    /** Runs a command to its end; returns exit code and combined output. */
    fun run(vararg cmd: String, timeoutSeconds: Long = 60): Pair<Int, String> {
        val p = ProcessBuilder(*cmd).redirectErrorStream(true).start()
        val out = StringBuilder()
        val reader = Thread { out.append(p.inputStream.bufferedReader().readText()) }.apply { start() }
        if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
            p.destroyForcibly()
            error("${cmd.joinToString(" ")} did not end within ${timeoutSeconds}s")
        }
        reader.join(5000)
        return p.exitValue() to out.toString()
    }

    /** A project directory like a user's, with the given files (path to text). */
    fun project(vararg files: Pair<String, String>): File {
        val dir = File(System.getProperty("java.io.tmpdir"), "jb-project-${System.nanoTime()}").apply { mkdirs() }
        for ((path, text) in files) File(dir, path).apply { parentFile.mkdirs() }.writeText(text)
        return dir
    }

    /** Polls [check] every 250 ms until it returns null (done) or [seconds] pass; the last message fails the test. */
    fun poll(seconds: Long, what: String, check: () -> String?) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds)
        var last: String?
        while (true) {
            last = check() ?: return
            if (System.nanoTime() > deadline) throw AssertionError("$what: not within ${seconds}s: $last")
            Thread.sleep(250)
        }
    }
}
