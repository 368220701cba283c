package dev.mirrordgo.core

import dev.mirrordgo.core.launch.EnvMerge
import dev.mirrordgo.core.launch.RunKind
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Test

class EnvMergeTest {
    @Test
    fun `debugger variables per product`() {
        assertEquals("javaagent", EnvMerge.debuggerEnv(RunKind.JVM)["MIRRORD_DETECT_DEBUGGER_PORT"])
        assertEquals("javaagent", EnvMerge.debuggerEnv(RunKind.GRADLE)["MIRRORD_DETECT_DEBUGGER_PORT"])
        assertEquals("pydevd", EnvMerge.debuggerEnv(RunKind.PYTHON)["MIRRORD_DETECT_DEBUGGER_PORT"])
        assertEquals("dlv;debugserver;go", EnvMerge.debuggerEnv(RunKind.GO)["MIRRORD_SKIP_PROCESSES"])
        assertEquals(mapOf("MIRRORD_IGNORE_DEBUGGER_PORTS" to "35000-65535"), EnvMerge.debuggerEnv(RunKind.NODE))
    }

    @Test
    fun `the launch env sent to the daemon - IDE env, debugger variables, the run configuration's env winning`() {
        val env = EnvMerge.launchEnv(
            mapOf("PATH" to "/bin", "KUBECONFIG" to "/ide/kc"),
            RunKind.JVM,
            mapOf("KUBECONFIG" to "/run/kc", "MIRRORD_DETECT_DEBUGGER_PORT" to "mine", "MIRRORD_ACTIVE" to "1"),
        )
        assertEquals(mapOf("PATH" to "/bin", "KUBECONFIG" to "/run/kc", "MIRRORD_IGNORE_DEBUGGER_PORTS" to "35000-65535",
            "MIRRORD_DETECT_DEBUGGER_PORT" to "mine", "MIRRORD_ACTIVE" to "1"), env)
    }

    @Test
    fun `the session's env wins, its unset keys go, also from the inherited env`() {
        val inj = EnvMerge.inject(RunKind.JVM, mapOf("A" to "run", "B" to "run", "GONE" to "x"),
            mapOf("B" to "session", "LD_PRELOAD" to "/r/mirrord-bootstrap.so"), listOf("GONE", "IDE_ONLY"))
        assertEquals("run", inj.env["A"])
        assertEquals("session", inj.env["B"])
        assertFalse(inj.env.containsKey("GONE"))
        assertEquals("true", inj.env[EnvMerge.INJECTED])
        val child = inj.applyTo(mapOf("IDE_ONLY" to "1", "HOME" to "/h", "B" to "ide"))
        assertFalse(child.containsKey("IDE_ONLY"))
        assertEquals("/h", child["HOME"])
        assertEquals("session", child["B"])
    }
}
