package dev.mirrordgo.core

import dev.mirrordgo.core.settings.AutoUpdate
import dev.mirrordgo.core.settings.MirrordSettings
import dev.mirrordgo.core.settings.NotificationId
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.test.assertFailsWith

class SettingsTest {
    @Test
    fun `auto-update is on, off or a pinned version, and says what it accepts`() {
        assertEquals(AutoUpdate.On, AutoUpdate.parse(""))
        assertEquals(AutoUpdate.On, AutoUpdate.parse("true"))
        assertEquals(AutoUpdate.Off, AutoUpdate.parse("Off"))
        assertEquals(AutoUpdate.Pinned("0.3.1"), AutoUpdate.parse(" v0.3.1 "))
        assertEquals(AutoUpdate.Pinned("1.2.3-rc.1"), AutoUpdate.parse("1.2.3-rc.1"))
        assertEquals(listOf<Any>(true, false, "0.3.1"), listOf(AutoUpdate.On.wire(), AutoUpdate.Off.wire(), AutoUpdate.Pinned("0.3.1").wire()))
        val e = assertFailsWith<IllegalArgumentException> { AutoUpdate.parse("latest") }
        assertTrue(e.message!!.contains("on, off or a version"))
    }

    @Test
    fun `the settings form is validated before it is applied`() {
        val ok = MirrordSettings(autoUpdate = "0.3.1", binaryPath = "/usr/bin/mirrord")
        assertEquals(emptyList<String>(), ok.validate { it == "/usr/bin/mirrord" })
        val bad = MirrordSettings(autoUpdate = "soon", binaryPath = "/nope")
        assertEquals(2, bad.validate { false }.size)
    }

    @Test
    fun `what changes the daemon connection, and notifications switched off one by one`() {
        val s = MirrordSettings()
        assertTrue(s.copy(binaryPath = "/x").needsReconnect(s))
        assertTrue(s.copy(autoUpdate = "false").needsReconnect(s))
        assertFalse(s.copy(enableOnStartup = true).needsReconnect(s))
        val hidden = s.hide(NotificationId.USING_CONFIG)
        assertFalse(hidden.shows(NotificationId.USING_CONFIG))
        assertTrue(hidden.shows(NotificationId.TARGETLESS))
    }
}
