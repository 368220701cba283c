package dev.mirrordgo.core

import dev.mirrordgo.core.daemon.DaemonHolder
import dev.mirrordgo.core.launch.ConfigChoice
import dev.mirrordgo.core.launch.ConfigProblem
import dev.mirrordgo.core.launch.ConfigSource
import dev.mirrordgo.core.launch.LaunchCancelled
import dev.mirrordgo.core.launch.LaunchRequest
import dev.mirrordgo.core.launch.LaunchUi
import dev.mirrordgo.core.launch.Launcher
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.core.launch.SessionTracker
import dev.mirrordgo.core.launch.UserMessages
import dev.mirrordgo.core.rpc.ErrorData
import dev.mirrordgo.core.rpc.RpcException
import dev.mirrordgo.core.targets.TargetChoice
import dev.mirrordgo.core.targets.TargetDialogModel
import dev.mirrordgo.gen.ConfigResolveResult
import dev.mirrordgo.gen.ErrorCodes
import dev.mirrordgo.gen.Issue
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotSame
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertSame
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.test.assertFailsWith

class LauncherTest {
    private val daemon = FakeDaemon()
    private val req = LaunchRequest(RunKind.JVM, mapOf("MIRRORD_ACTIVE" to "1", "UNSET_ME" to "x"), mapOf("PATH" to "/bin", "KUBECONFIG" to "/kc"),
        "/p", null, null, "deployment/web")

    private class Ui(val pick: (TargetDialogModel) -> TargetChoice?) : LaunchUi {
        val progress = mutableListOf<String>()
        val configs = mutableListOf<ConfigChoice>()
        var dialogs = 0
        override fun chooseTarget(model: TargetDialogModel): TargetChoice? { dialogs++; return pick(model) }
        override fun progress(text: String) { progress += text }
        override fun usingConfig(choice: ConfigChoice) { configs += choice }
    }

    @Test
    fun `a config with a target - no dialog, the session env is merged and the launch env reaches the daemon`() {
        daemon.discovered = "/p/.mirrord/mirrord.json"
        daemon.resolve = { ConfigResolveResult(targetSet = true, target = "deployment/web") }
        val ui = Ui { error("no dialog expected") }
        val p = Launcher(daemon).prepare(req, ui)
        assertEquals(listOf("config/discover", "config/resolve", "sessions/start"), daemon.calls)
        assertEquals("/p/.mirrord/mirrord.json", daemon.lastStart?.configPath)
        assertNull(daemon.lastStart?.target, "the config's target applies")
        assertEquals("/kc", daemon.lastStart?.launchEnv?.get("KUBECONFIG"))
        assertEquals("javaagent", daemon.lastStart?.launchEnv?.get("MIRRORD_DETECT_DEBUGGER_PORT"))
        assertEquals("/p", daemon.lastResolve?.cwd)
        assertEquals("/r/mirrord-bootstrap.so", p.injection.env["LD_PRELOAD"])
        assertFalse(p.injection.env.containsKey("UNSET_ME"))
        assertEquals(listOf(ConfigChoice("/p/.mirrord/mirrord.json", ConfigSource.DEFAULT)), ui.configs)
        assertEquals(listOf("creating agent"), ui.progress)
        assertEquals(0, ui.dialogs)
        assertSame(daemon, p.daemon, "the session remembers the connection it was started on")
    }

    @Test
    fun `no target - the dialog opens and its target and namespace go to sessions-start`() {
        val ui = Ui { m -> assertEquals("deployment/web (most recent)", m.initialSelection.label); m.choose(m.initialSelection) }
        Launcher(daemon).prepare(req, ui)
        assertEquals(1, ui.dialogs)
        assertEquals("deployment/web", daemon.lastStart?.target)
        assertEquals("apps", daemon.lastStart?.namespace)
    }

    @Test
    fun `targetless in the dialog is the literal targetless, and cancel stops the launch before any session`() {
        Launcher(daemon).prepare(req, Ui { m -> m.choose(m.items.last()) })
        assertEquals(Launcher.TARGETLESS, daemon.lastStart?.target)
        daemon.calls.clear()
        assertFailsWith<LaunchCancelled> { Launcher(daemon).prepare(req, Ui { null }) }
        assertFalse(daemon.calls.contains("sessions/start"))
    }

    @Test
    fun `config errors become a positioned problem, whether returned or raised`() {
        daemon.discovered = "/p/.mirrord/mirrord.json"
        daemon.resolve = { ConfigResolveResult(errors = listOf(Issue(file = "/p/.mirrord/mirrord.json", line = 3, col = 7, message = "unknown field \"fetaure\""))) }
        val e = assertFailsWith<ConfigProblem> { Launcher(daemon).prepare(req, Ui { null }) }
        assertEquals(".mirrord/mirrord.json:3:7: unknown field \"fetaure\"", e.message)
        assertEquals(3, e.line)
        daemon.resolve = { throw RpcException(ErrorCodes.CONFIG, "invalid", ErrorData("config", null, listOf(Issue(line = 2, col = 1, message = "a"), Issue(message = "b")))) }
        val e2 = assertFailsWith<ConfigProblem> { Launcher(daemon).prepare(req, Ui { null }) }
        assertEquals(".mirrord/mirrord.json:2:1: a (and 1 more)", e2.message)
        assertEquals("/p/.mirrord/mirrord.json", UserMessages.of(e2).openConfig?.file)
    }

    @Test
    fun `error notifications name the problem and the fix`() {
        val m = UserMessages.of(RpcException(ErrorCodes.CLUSTER, "deployments \"x\" not found", ErrorData("cluster", "pick another target")))
        assertEquals("mirrord: the cluster refused", m.title)
        assertEquals("deployments \"x\" not found. pick another target", m.text)
        assertTrue(UserMessages.of(RpcException(RpcException.CONNECTION_CLOSED, "gone")).text.contains("daemon status"))
    }

    @Test
    fun `the session stops once when its process ends`() {
        val stopped = mutableListOf<String>()
        val t = SessionTracker<String> { _, id -> stopped += id }
        val proc = Any()
        t.started(proc, "d", "s1")
        t.started("other", "d", "s2")
        t.ended(proc)
        t.ended(proc)
        assertEquals(listOf("s1"), stopped)
        t.stopAll()
        assertEquals(listOf("s1", "s2"), stopped)
        assertEquals(0, t.running)
    }

    @Test
    fun `a session stops through the connection it was started on, also after it moved to its process`() {
        val stopped = mutableListOf<String>()
        val t = SessionTracker<String> { d, id -> stopped += "$d:$id" }
        val execution = Any()
        val proc = Any()
        t.started(execution, "old", "s1")
        t.started("other", "new", "s2")
        assertTrue(t.moved(execution, proc))
        assertFalse(t.moved(execution, proc), "moved once")
        assertTrue(t.holds("old"))
        t.ended(execution)
        assertEquals(emptyList<String>(), stopped, "the execution key is gone after the move")
        t.ended(proc)
        assertEquals(listOf("old:s1"), stopped)
        assertFalse(t.holds("old"))
        assertTrue(t.holds("new"))
    }

    @Test
    fun `a stale connection is replaced at once but closed only after its last session stopped`() {
        class Conn(val n: Int) : java.io.Closeable {
            var open = true
            override fun close() { open = false }
        }
        var made = 0
        val sessions = mutableMapOf<Conn, Int>()
        val h = DaemonHolder({ Conn(++made) }, { it.open }, { (sessions[it] ?: 0) > 0 })
        val first = h.get()
        assertSame(first, h.get())
        sessions[first] = 2
        h.markStale()
        val second = h.get()
        assertNotSame(first, second, "a launch after the settings change uses the new connection")
        assertTrue(first.open, "the old connection stays open while sessions run on it")
        sessions[first] = 1
        h.released(first)
        assertTrue(first.open)
        sessions[first] = 0
        h.released(first)
        assertFalse(first.open, "closed after its last session stopped")
        h.released(second)
        assertTrue(second.open, "the current connection is never closed by a release")
        h.markStale()
        assertNotSame(second, h.get())
        assertFalse(second.open, "a stale connection without sessions is closed at once")
    }
}
