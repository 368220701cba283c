package dev.mirrordgo.core

import dev.mirrordgo.core.binary.BinaryLookup
import dev.mirrordgo.core.binary.BinarySource
import dev.mirrordgo.core.binary.Machine
import dev.mirrordgo.core.settings.AutoUpdate
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test
import kotlin.test.assertFailsWith

class BinaryLookupTest {
    private fun machine(vararg bins: Pair<String, String?>) = object : Machine {
        val m = bins.toMap()
        override fun isExecutable(path: String) = m.containsKey(path)
        override fun version(path: String) = m[path]
    }

    @Test
    fun `the setting wins, and a wrong setting is an error, not a fallback`() {
        val l = BinaryLookup(machine("/opt/mirrord" to "0.1.0", "/usr/bin/mirrord" to "0.1.0"), listOf("/usr/bin"), "/d")
        assertEquals(BinarySource.SETTING, l.find("/opt/mirrord", AutoUpdate.On, "0.1.0").source)
        assertFailsWith<IllegalStateException> { l.find("/opt/other", AutoUpdate.On, "0.1.0") }
    }

    @Test
    fun `PATH of the wanted version, else the managed download, else PATH with a note`() {
        val path = BinaryLookup(machine("/usr/bin/mirrord" to "0.1.0"), listOf("", "/usr/bin"), "/d")
        assertEquals(FoundPath("/usr/bin/mirrord", null), path.find("", AutoUpdate.On, "0.1.0").let { FoundPath(it.path, it.note) })
        val managed = BinaryLookup(machine("/usr/bin/mirrord" to "0.0.9", "/d/bin/0.3.1/mirrord" to "0.3.1"), listOf("/usr/bin"), "/d")
        assertEquals("/d/bin/0.3.1/mirrord", managed.find("", AutoUpdate.Pinned("0.3.1"), "0.1.0").path)
        val old = BinaryLookup(machine("/usr/bin/mirrord" to "0.0.9"), listOf("/usr/bin"), "/d").find("", AutoUpdate.On, "0.1.0")
        assertNotNull(old.note)
        val any = BinaryLookup(machine("/usr/bin/mirrord" to "0.0.9"), listOf("/usr/bin"), "/d").find("", AutoUpdate.Off, "0.1.0")
        assertNull(any.note)
        assertFailsWith<IllegalStateException> { BinaryLookup(machine(), listOf("/usr/bin"), "/d").find("", AutoUpdate.On, "0.1.0") }
    }

    @Test
    fun `data dir and version output`() {
        assertEquals("/x/mirrord", BinaryLookup.dataDir(mapOf("XDG_DATA_HOME" to "/x"), "/h"))
        assertEquals("/h/.local/share/mirrord", BinaryLookup.dataDir(emptyMap(), "/h"))
        assertEquals("0.1.0", BinaryLookup.parseVersion("mirrord 0.1.0\n"))
        assertNull(BinaryLookup.parseVersion("sh: mirrord: not found"))
    }

    private data class FoundPath(val path: String, val note: String?)
}
