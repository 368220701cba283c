package dev.mirrordgo.core

import dev.mirrordgo.core.launch.Decision
import dev.mirrordgo.core.launch.LaunchFacts
import dev.mirrordgo.core.launch.LaunchRule
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.Arguments
import org.junit.jupiter.params.provider.MethodSource
import org.junit.jupiter.api.Test

class LaunchRuleTest {
    companion object {
        /** toggle × MIRRORD_ACTIVE (absent, "1", "0") × config target (set, not set) → runs, dialog. */
        @JvmStatic
        fun table(): List<Arguments> = listOf(
            Arguments.of(false, null, true, false, false),
            Arguments.of(false, null, false, false, false),
            Arguments.of(false, "1", true, true, false),
            Arguments.of(false, "1", false, true, true),
            Arguments.of(false, "0", true, false, false),
            Arguments.of(false, "0", false, false, false),
            Arguments.of(true, null, true, true, false),
            Arguments.of(true, null, false, true, true),
            Arguments.of(true, "1", true, true, false),
            Arguments.of(true, "1", false, true, true),
            Arguments.of(true, "0", true, false, false),
            Arguments.of(true, "0", false, false, false),
        )
    }

    @ParameterizedTest(name = "toggle={0} MIRRORD_ACTIVE={1} targetSet={2} -> run={3} dialog={4}")
    @MethodSource("table")
    fun `the launch rule`(toggle: Boolean, active: String?, targetSet: Boolean, runs: Boolean, dialog: Boolean) {
        val env = if (active == null) mapOf("PATH" to "/bin") else mapOf("MIRRORD_ACTIVE" to active)
        val d = LaunchRule.decide(toggle, LaunchFacts(env, "Main"))
        assertEquals(runs, d is Decision.Run, "$d")
        assertEquals(dialog, LaunchRule.needsTargetDialog(d, targetSet))
    }

    @Test
    fun `MIRRORD_ACTIVE is compared as a string, as upstream does`() {
        for (v in listOf("true", "yes", " 1", "01", "")) {
            assertEquals(Decision.Skip("the mirrord toggle is off"), LaunchRule.decide(false, LaunchFacts(mapOf("MIRRORD_ACTIVE" to v))), v)
        }
    }

    @Test
    fun `build launches are skipped unless forced`() {
        assertTrue(LaunchRule.decide(true, LaunchFacts(emptyMap(), "Build project")) is Decision.Skip)
        assertTrue(LaunchRule.decide(true, LaunchFacts(mapOf("MIRRORD_ACTIVE" to "1"), "app [build]", buildOnly = true)) is Decision.Skip)
        assertTrue(LaunchRule.decide(true, LaunchFacts(emptyMap(), "Tomcat 10")) is Decision.Skip)
        assertTrue(LaunchRule.decide(true, LaunchFacts(mapOf("MIRRORD_FORCE_RUN" to "true"), "Build project")) is Decision.Run)
    }

    @Test
    fun `an env left over from an earlier injection is refused even with mirrord off`() {
        val stale = listOf(
            mapOf("LD_PRELOAD" to "/run/user/0/mirrord/mirrord-bootstrap-ab12.so"),
            mapOf("DYLD_INSERT_LIBRARIES" to "/x/libmirrord_layer.dylib"),
            mapOf("MIRRORD_LAYER_SOCKET" to "/run/s.sock"),
            mapOf("__MIRRORD_EXT_INJECTED" to "true"),
            mapOf("MIRRORD_RESOLVED_CONFIG" to "e30="),
        )
        for (env in stale) {
            val d = LaunchRule.decide(false, LaunchFacts(env + ("MIRRORD_ACTIVE" to "0")))
            assertTrue(d is Decision.Refuse && d.message.contains(env.keys.first()), "$env: $d")
        }
        assertTrue(LaunchRule.decide(true, LaunchFacts(mapOf("LD_PRELOAD" to "/usr/lib/libjemalloc.so"))) is Decision.Run)
    }
}
