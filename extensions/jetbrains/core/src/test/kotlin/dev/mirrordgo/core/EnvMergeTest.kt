package dev.mirrordgo.core

import dev.mirrordgo.core.launch.EnvMerge
import dev.mirrordgo.core.launch.JavaEnv
import dev.mirrordgo.core.launch.RunKind
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
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

    @Test
    fun `JVM parameters - the injection is added and the IDE env stays inherited when nothing is unset`() {
        val inj = EnvMerge.inject(RunKind.JVM, mapOf("APP_MODE" to "dev"), mapOf("LD_PRELOAD" to "/r/mirrord-bootstrap.so"), emptyList())
        val j = JavaEnv.inject(inj, mapOf("APP_MODE" to "dev"), passParentEnvs = true, ideEnv = mapOf("HOME" to "/h"))
        assertTrue(j.passParentEnvs)
        assertEquals(mapOf("APP_MODE" to "dev") + inj.env, j.env)
        val p = j.processEnv(mapOf("HOME" to "/h"))
        assertEquals("/h", p["HOME"])
        assertEquals("dev", p["APP_MODE"])
        assertEquals("/r/mirrord-bootstrap.so", p["LD_PRELOAD"])
    }

    @Test
    fun `JVM parameters - unset keys leave the inherited IDE env, which is then passed explicitly`() {
        val ide = mapOf("HOME" to "/h", "IDE_ONLY" to "1")
        val params = mapOf("APP_MODE" to "dev", "GONE" to "x")
        val inj = EnvMerge.inject(RunKind.JVM, params, mapOf("B" to "session"), listOf("GONE", "IDE_ONLY"))
        val j = JavaEnv.inject(inj, params, passParentEnvs = true, ideEnv = ide)
        assertFalse(j.passParentEnvs, "the IDE env is copied in, not inherited")
        val p = j.processEnv(ide)
        assertEquals(inj.applyTo(ide), p, "what the process sees is the IDE env minus unset plus the injection")
        assertFalse(p.containsKey("IDE_ONLY"))
        assertFalse(p.containsKey("GONE"))
        assertEquals("/h", p["HOME"])
        assertEquals("dev", p["APP_MODE"])
        assertEquals("session", p["B"])
    }

    @Test
    fun `JVM parameters - without the parent env, unset keys still leave the parameters' own env`() {
        val params = mapOf("APP_MODE" to "dev", "GONE" to "x")
        val inj = EnvMerge.inject(RunKind.JVM, params, emptyMap(), listOf("GONE"))
        val j = JavaEnv.inject(inj, params, passParentEnvs = false, ideEnv = mapOf("HOME" to "/h"))
        assertFalse(j.passParentEnvs)
        assertFalse(j.env.containsKey("GONE"))
        assertEquals(j.env, j.processEnv(mapOf("HOME" to "/h")))
    }
}
