package dev.mirrordgo.core

import dev.mirrordgo.core.config.ConfigFiles
import dev.mirrordgo.core.launch.ConfigChoice
import dev.mirrordgo.core.launch.ConfigChooser
import dev.mirrordgo.core.launch.ConfigSource
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class ConfigChooserTest {
    private val env = mapOf("MIRRORD_CONFIG_FILE" to "\$ProjectPath\$/.mirrord/b.json")

    @Test
    fun `first match wins - active, MIRRORD_CONFIG_FILE, default discovery, none`() {
        assertEquals(ConfigChoice("/p/a.json", ConfigSource.ACTIVE), ConfigChooser.choose("/p/a.json", env, "/p", "/p/.mirrord/mirrord.json"))
        assertEquals(ConfigChoice("/p/.mirrord/b.json", ConfigSource.ENV), ConfigChooser.choose(null, env, "/p", "/p/.mirrord/mirrord.json"))
        assertEquals(ConfigChoice("/p/.mirrord/mirrord.json", ConfigSource.DEFAULT), ConfigChooser.choose(null, emptyMap(), "/p", "/p/.mirrord/mirrord.json"))
        assertEquals(ConfigChoice(null, ConfigSource.NONE), ConfigChooser.choose("", emptyMap(), "/p", ""))
    }

    @Test
    fun `a relative MIRRORD_CONFIG_FILE is taken from the project directory`() {
        assertEquals("/p/cfg/m.json", ConfigChooser.choose(null, mapOf("MIRRORD_CONFIG_FILE" to "cfg/m.json"), "/p", null).path)
    }

    @Test
    fun `the schema is attached to JSON configs only, discovery knows every format`() {
        for (p in listOf("/p/mirrord.json", "/p/app-mirrord.json", "/p/.mirrord/web.json", "C:\\p\\.mirrord\\x.json")) assertTrue(ConfigFiles.schemaApplies(p), p)
        for (p in listOf("/p/package.json", "/p/.mirrord/m.toml", "/p/mirrord.json.bak", "/p/.mirrord/sub/x.json")) assertFalse(ConfigFiles.schemaApplies(p), p)
        assertTrue(ConfigFiles.isConfig("/p/.mirrord/m.toml"))
        assertTrue(ConfigFiles.isConfig("/p/x-mirrord.yaml"))
    }

    @Test
    fun `the active-config menu lists default discovery first and marks the active one`() {
        val items = ConfigFiles.menuItems("/p", listOf("/p/.mirrord/a.json", "/p/.mirrord/b.json"), "/p/.mirrord/b.json", "/p/.mirrord/a.json")
        assertEquals(listOf("Default discovery (.mirrord/a.json)", ".mirrord/a.json", ".mirrord/b.json ✓"), items.map { it.first })
        assertEquals(listOf(null, "/p/.mirrord/a.json", "/p/.mirrord/b.json"), items.map { it.second })
    }
}
