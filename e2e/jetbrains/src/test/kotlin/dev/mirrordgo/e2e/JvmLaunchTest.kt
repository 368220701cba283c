package dev.mirrordgo.e2e

import dev.mirrordgo.core.daemon.Daemon
import dev.mirrordgo.core.daemon.DaemonClient
import dev.mirrordgo.core.launch.Decision
import dev.mirrordgo.core.launch.JavaEnv
import dev.mirrordgo.core.launch.LaunchFacts
import dev.mirrordgo.core.launch.LaunchRequest
import dev.mirrordgo.core.launch.LaunchRule
import dev.mirrordgo.core.launch.LaunchUi
import dev.mirrordgo.core.launch.Launcher
import dev.mirrordgo.core.launch.PreparedLaunch
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.core.launch.SessionTracker
import dev.mirrordgo.core.targets.TargetChoice
import dev.mirrordgo.core.targets.TargetDialogModel
import dev.mirrordgo.gen.SessionEndedParams
import java.io.File
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

/**
 * Core's part of a JVM launch end to end, against the real daemon and
 * cluster. No IDE code runs here (the IntelliJ SDK is not available; the
 * adapters in plugin/ are only compiled against stubs): the test plays the
 * IDE. A run env with MIRRORD_ACTIVE=1 (the toggle is off) goes through
 * core's launch rule and Launcher, which start a session against
 * deploy/web (the target dialog is answered as a user would); the
 * parameters' env comes from [JavaEnv.inject], the decision the IntelliJ
 * adapter calls; `java` is started with that env by this test, and core's
 * SessionTracker stops the session when the process ends. Then the same
 * through a shell script that starts java, as Gradle and Maven launches
 * do. Everything runs in the laptop netns.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JvmLaunchTest {
    private lateinit var d: DaemonClient
    private val ended = LinkedBlockingQueue<SessionEndedParams>()
    private lateinit var tracker: SessionTracker<Daemon>
    private lateinit var classes: File
    private val project = Harness.project(
        // No target: the launch asks the dialog. Outgoing traffic and the pod's files and env are on.
        ".mirrord/mirrord.json" to """{"feature": {"network": {"outgoing": true}, "fs": "read", "env": true}}""",
        "run-app.sh" to "#!/bin/sh\n# what a Gradle or Maven launch does: a shell starts the JVM (not exec'd)\njava -cp \"$1\" Probe\necho \"script: java exited \$?\"\n",
    )

    @BeforeAll
    fun setUp() {
        d = Harness.connect()
        d.onSessionEnded { ended += it }
        tracker = SessionTracker { daemon, id -> daemon.stopSession(id) }
        classes = File(project, "out").apply { mkdirs() }
        val src = File(project, "src/Probe.java").apply { parentFile.mkdirs() }
        src.writeText(javaClass.getResource("/Probe.java.txt")!!.readText())
        val (code, out) = Harness.run("javac", "--release", "17", "-d", classes.path, src.path)
        assertEquals(0, code, out)
        File(project, "run-app.sh").setExecutable(true)
    }

    @AfterAll
    fun tearDown() {
        d.stopDaemon()
        d.close()
    }

    /** The dialog: switch to the sample namespace and pick deploy/web's Deployment. */
    private inner class Ui : LaunchUi {
        val progress = mutableListOf<String>()
        override fun chooseTarget(model: TargetDialogModel): TargetChoice? {
            model.switchNamespace(Harness.NAMESPACE)
            return model.choose(model.items.first { it.path == "deployment/web" })
        }
        override fun progress(text: String) { synchronized(progress) { progress += text } }
    }

    private class Ran(val prepared: PreparedLaunch, val lines: List<String>, val exit: Int, val firstLineMs: Long, val progress: List<String>)

    /** What pressing Run does in core: the rule, the session start, the adapter's env decision; then this test starts the process and ends it. */
    private fun press(runEnv: Map<String, String>, command: List<String>): Ran {
        val t0 = System.nanoTime()
        val decision = LaunchRule.decide(toggle = false, LaunchFacts(runEnv, "Probe"))
        assertEquals(Decision.Run("MIRRORD_ACTIVE=1"), decision)
        val ui = Ui()
        val req = LaunchRequest(RunKind.JVM, runEnv, Harness.ideEnv, project.path, project.path, null, null)
        val prepared = Launcher(d).prepare(req, ui)
        // The IntelliJ adapter's env decision (core's JavaEnv.inject, which IdeaRunConfigurationExtension calls) for
        // parameters that inherit the IDE env; the process gets what GeneralCommandLine would pass.
        val javaEnv = JavaEnv.inject(prepared.injection, runEnv, passParentEnvs = true, ideEnv = Harness.ideEnv)
        val pb = ProcessBuilder(command).directory(project).redirectErrorStream(true)
        pb.environment().clear()
        pb.environment().putAll(javaEnv.processEnv(Harness.ideEnv))
        val proc = pb.start()
        tracker.started(proc, prepared.daemon, prepared.sessionId)
        val lines = mutableListOf<String>()
        var firstLineMs = -1L
        proc.inputStream.bufferedReader().forEachLine {
            if (firstLineMs < 0) firstLineMs = (System.nanoTime() - t0) / 1_000_000
            lines += it
        }
        assertTrue(proc.waitFor(60, TimeUnit.SECONDS))
        tracker.ended(proc) // what the adapters' ProcessListener does on processTerminated
        return Ran(prepared, lines, proc.exitValue(), firstLineMs, synchronized(ui.progress) { ui.progress.toList() })
    }

    private fun assertInPod(r: Ran) {
        val out = r.lines.joinToString("\n")
        assertEquals(0, r.exit, out)
        assertTrue(r.lines.contains("MIRRORD_FAKE_VAR_FIRST=mirrord.is.running"), out)
        assertTrue(r.lines.any { it.startsWith("test.txt=") && it.contains(Harness.REMOTE_TEXT) }, out)
        assertTrue(r.lines.any { it.startsWith("GET=GET from pod internal-only") }, out)
        // The JDK is Debian's default-jdk-headless: Java 17 or newer.
        val java = r.lines.firstOrNull { it.startsWith("java=") }?.removePrefix("java=")
        assertTrue((java?.substringBefore('.')?.toIntOrNull() ?: 0) >= 17, "java=$java: $out")
    }

    @Test
    fun `core's JVM launch with MIRRORD_ACTIVE=1 runs java in deploy-web's context, then a shell-started JVM on the warm agent`() {
        val runEnv = mapOf("MIRRORD_ACTIVE" to "1", "APP_MODE" to "dev")
        val cold = press(runEnv, listOf("java", "-cp", classes.path, "Probe"))
        assertInPod(cold)
        assertEquals("deployment/web", cold.prepared.target)
        assertTrue(cold.lines.contains("APP_MODE=dev"), "the run configuration's own env stays: ${cold.lines}")
        val job = cold.progress.firstNotNullOfOrNull { Regex("""creating agent Job (\S+) in namespace""").find(it)?.groupValues?.get(1) }
            ?: throw AssertionError("no progress named the agent Job: ${cold.progress}")

        val warm = press(runEnv, listOf("${project.path}/run-app.sh", classes.path))
        assertInPod(warm)
        assertTrue(warm.prepared.reused, "the second run reuses the warm agent")
        assertTrue(warm.lines.contains("script: java exited 0"), warm.lines.joinToString("\n"))
        println("TIMING run -> first line of the Java program: cold ${cold.firstLineMs} ms, warm agent ${warm.firstLineMs} ms (shell-started JVM)")

        // Both sessions were stopped when their processes ended; after the warm time the session ends and the agent goes.
        while (true) {
            val end = ended.poll(60, TimeUnit.SECONDS) ?: throw AssertionError("no session/ended for ${warm.prepared.sessionId} within 60 s")
            if (end.sessionId == warm.prepared.sessionId) break
        }
        assertEquals(0, tracker.running)
        assertEquals(emptyList<Any>(), d.sessions().sessions, "no session is left")
        Harness.poll(60, "agent Job $job deleted") {
            val (code, out) = Harness.run(Harness.kubectl, "get", "job", job, "-n", Harness.NAMESPACE, "--ignore-not-found", "-o", "name")
            if (code == 0 && out.isBlank()) null else "exit $code: $out"
        }
    }
}
