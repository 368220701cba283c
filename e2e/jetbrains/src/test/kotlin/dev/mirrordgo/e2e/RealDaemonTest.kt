package dev.mirrordgo.e2e

import dev.mirrordgo.core.daemon.DaemonClient
import dev.mirrordgo.core.launch.ConfigProblem
import dev.mirrordgo.core.launch.LaunchRequest
import dev.mirrordgo.core.launch.LaunchUi
import dev.mirrordgo.core.launch.Launcher
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.core.targets.TargetChoice
import dev.mirrordgo.core.targets.TargetDialogModel
import dev.mirrordgo.gen.ConfigDiscoverParams
import dev.mirrordgo.gen.ConfigResolveParams
import dev.mirrordgo.gen.ConfigValidateParams
import dev.mirrordgo.gen.PROTOCOL_VERSION
import dev.mirrordgo.gen.TargetsListParams
import java.io.File
import kotlin.test.assertFailsWith
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.MethodOrderer
import org.junit.jupiter.api.Order
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.TestMethodOrder

/**
 * The core against the real daemon (bin/mirrord) and the local cluster,
 * over the same `mirrord daemon connect` bridge the plugin uses.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation::class)
class RealDaemonTest {
    private lateinit var d: DaemonClient

    @BeforeAll
    fun connect() {
        // Fresh HOME and XDG_RUNTIME_DIR (build.sh): no daemon runs (another test class stops the one
        // it started), so connecting must start one.
        Harness.poll(10, "no daemon running") {
            val (code, out) = Harness.run(Harness.binary, "daemon", "status")
            if (code == 3) null else "mirrord daemon status: exit $code: $out"
        }
        d = Harness.connect()
    }

    @AfterAll
    fun stop() {
        d.stopDaemon()
        d.close()
    }

    @Test
    @Order(1)
    fun `the client autostarts the daemon and completes initialize`() {
        val (_, version) = Harness.run(Harness.binary, "--version")
        assertEquals(version.trim(), "mirrord ${d.info.version}")
        assertEquals(PROTOCOL_VERSION, d.info.protocolVersion)
        assertTrue(d.info.buildHash.isNotEmpty())
        assertTrue(d.info.methods.containsAll(listOf("targets/list", "sessions/start", "config/discover")), "${d.info.methods}")
        val st = d.status()
        assertEquals(d.info.pid, st.pid, "initialize and daemon/status describe the same process")
        assertTrue(st.socket.startsWith(System.getenv("XDG_RUNTIME_DIR")), st.socket)
        val (code, out) = Harness.run(Harness.binary, "daemon", "status")
        assertEquals(0, code, out)
    }

    @Test
    @Order(2)
    fun `the target dialog model lists the sample workloads and switches namespace`() {
        val m = TargetDialogModel({ ns -> d.targets(TargetsListParams(namespace = ns, env = Harness.ideEnv)) }, "deployment/web")
        assertTrue(m.namespaces.contains(Harness.NAMESPACE) && m.namespaces.contains("kube-system"), "${m.namespaces}")
        m.switchNamespace(Harness.NAMESPACE)
        assertEquals(Harness.NAMESPACE, m.namespace)
        val paths = m.items.map { it.path }
        assertEquals("deployment/web", m.initialSelection.path, "the most recent target comes first")
        assertTrue(paths.containsAll(listOf("deployment/web", "deployment/internal-only", null)), "$paths")
        assertTrue(paths.any { it?.startsWith("pod/web-") == true }, "$paths")
        m.switchNamespace("kube-system")
        assertEquals("kube-system", m.namespace)
        assertTrue(m.items.none { it.path == "deployment/web" }, "${m.items}")
        assertTrue(m.items.any { it.path?.contains("coredns") == true }, "${m.items}")
    }

    @Test
    @Order(3)
    fun `a project's mirrord json is discovered and resolved`() {
        val p = Harness.project(".mirrord/mirrord.json" to """{"target": {"path": "deployment/web", "namespace": "${Harness.NAMESPACE}"}, "feature": {"fs": "read"}}""",
            ".mirrord/other.toml" to "[feature]\nfs = \"local\"\n")
        val disc = d.discover(ConfigDiscoverParams(workspaceFolder = p.path, env = Harness.ideEnv))
        assertEquals(File(p, ".mirrord/mirrord.json").path, disc.default)
        assertTrue(disc.candidates.contains(File(p, ".mirrord/other.toml").path), "${disc.candidates}")
        val r = d.resolve(ConfigResolveParams(path = disc.default, env = Harness.ideEnv))
        assertTrue(r.targetSet)
        assertEquals(Harness.NAMESPACE, r.namespace)
        assertTrue(r.target.contains("web"), r.target)
        assertEquals(emptyList<Any>(), r.errors)
    }

    @Test
    @Order(4)
    fun `an invalid config is a positioned error, both for the launch and for the editor`() {
        val text = "{\n  \"feature\": {\n    \"network\": {\"incoming\": \"sideways\"}\n  }\n}\n"
        val p = Harness.project(".mirrord/mirrord.json" to text)
        val ui = object : LaunchUi {
            override fun chooseTarget(model: TargetDialogModel): TargetChoice? = error("no dialog for a broken config")
        }
        val req = LaunchRequest(RunKind.JVM, mapOf("MIRRORD_ACTIVE" to "1"), Harness.ideEnv, p.path, p.path, null, null)
        val e = assertFailsWith<ConfigProblem> { Launcher(d).prepare(req, ui) }
        assertEquals(File(p, ".mirrord/mirrord.json").path, e.file)
        assertEquals(3, e.line, e.message)
        assertTrue(e.message!!.startsWith(".mirrord/mirrord.json:3:") && e.message!!.contains("sideways"), e.message)
        val diags = d.validate(ConfigValidateParams(path = e.file)).diagnostics
        assertTrue(diags.isNotEmpty() && diags[0].range.start.line == 2, "$diags") // LSP lines are 0-based
    }
}
