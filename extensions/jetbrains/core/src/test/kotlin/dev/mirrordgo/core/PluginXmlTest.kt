package dev.mirrordgo.core

import java.io.ByteArrayInputStream
import java.io.File
import java.util.zip.ZipFile
import java.util.zip.ZipInputStream
import javax.xml.parsers.DocumentBuilderFactory
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.w3c.dom.Element

/**
 * The built plugin zip (tools/build.sh assembles it before the tests run),
 * checked without an IDE:
 *  - its layout is `<dir>/lib/<jar>`, as "Install Plugin from Disk" expects;
 *  - no class compiled from `stubs/` (the compile-only copies of platform
 *    classes) is in any of its jars;
 *  - the plugin jar holds `META-INF/plugin.xml`, and every `<depends
 *    config-file>` it names, as optional dependencies;
 *  - every class plugin.xml and its config files name is in the zip's jars;
 *  - every extension point is one of a known list for the target platform
 *    (2025.3) and the optional plugins it names.
 */
class PluginXmlTest {
    private val zip = File(System.getenv("MIRRORD_JB_ZIP") ?: error("MIRRORD_JB_ZIP is not set: run through tools/build.sh"))
    private val stubList = File(System.getenv("MIRRORD_JB_STUB_CLASSES") ?: error("MIRRORD_JB_STUB_CLASSES is not set: run through tools/build.sh"))

    private val knownExtensionPoints = setOf(
        "com.intellij.notificationGroup", "com.intellij.applicationConfigurable", "com.intellij.runConfigurationExtension",
        "com.intellij.externalSystem.runConfigurationEx", "com.goide.runConfigurationExtension", "Pythonid.runConfigurationExtension",
        "NodeJS.nodeRunConfigurationExtension", "JavaScript.JsonSchema.ProviderFactory",
    )
    private val classAttributes = listOf("implementation", "instance", "class", "serviceImplementation")

    /** One jar of the zip: its entry names and the bytes of its XML files. */
    private class Jar(val name: String, val entries: Set<String>, val xml: Map<String, ByteArray>) {
        val classes: Set<String> get() = entries.filter { it.endsWith(".class") }.map { it.removeSuffix(".class").replace('/', '.') }.toSet()
    }

    private fun jars(): List<Jar> = ZipFile(zip).use { z ->
        z.entries().toList().filter { it.name.endsWith(".jar") }.map { e ->
            val names = mutableSetOf<String>()
            val xml = mutableMapOf<String, ByteArray>()
            ZipInputStream(z.getInputStream(e)).use { jin ->
                while (true) {
                    val je = jin.nextEntry ?: break
                    names += je.name
                    if (je.name.startsWith("META-INF/") && je.name.endsWith(".xml")) xml[je.name] = jin.readBytes()
                }
            }
            Jar(e.name, names, xml)
        }
    }

    private fun parse(b: ByteArray): Element = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(ByteArrayInputStream(b)).documentElement

    private fun elements(e: Element): Sequence<Element> = sequence {
        yield(e)
        val kids = e.childNodes
        for (i in 0 until kids.length) (kids.item(i) as? Element)?.let { yieldAll(elements(it)) }
    }

    @Test
    fun `the zip is laid out as dir-lib-jars and holds no stub class`() {
        val names = ZipFile(zip).use { z -> z.entries().toList().filter { !it.isDirectory }.map { it.name } }
        assertTrue(names.isNotEmpty(), "$zip is empty")
        val top = names.map { it.substringBefore('/') }.toSet()
        assertEquals(1, top.size, "one top-level folder expected, got $top")
        for (n in names) assertTrue(Regex("""[^/]+/lib/[^/]+\.jar""").matches(n), "$n is not <dir>/lib/<name>.jar")
        val stubs = stubList.readLines().map { it.trim() }.filter { it.isNotEmpty() }.toSet()
        assertTrue(stubs.size >= 50, "only ${stubs.size} stub classes listed in $stubList: did the stub build run?")
        val jars = jars()
        for (j in jars) {
            val leaked = j.classes.filter { it in stubs }
            assertTrue(leaked.isEmpty(), "${j.name} packages stub classes: ${leaked.take(5)}")
            // Nothing of the platform's own namespaces either: a stub by another name would hide here.
            val platform = j.classes.filter { it.startsWith("com.intellij.") || it.startsWith("com.goide.") || it.startsWith("com.jetbrains.") }
            assertTrue(platform.isEmpty(), "${j.name} packages platform classes: ${platform.take(5)}")
        }
        assertTrue(jars.any { "kotlin/Unit.class" in it.entries }.not(), "the Kotlin stdlib is the IDE's: it must not be packaged")
    }

    @Test
    fun `plugin xml is in the plugin jar, every class it names is in the zip, every extension point is known`() {
        val jars = jars()
        val plugin = jars.filter { "META-INF/plugin.xml" in it.entries }
        assertEquals(1, plugin.size, "exactly one jar must hold META-INF/plugin.xml: ${jars.map { it.name }}")
        val pj = plugin.single()
        val root = parse(pj.xml.getValue("META-INF/plugin.xml"))
        val version = System.getenv("MIRRORD_JB_VERSION") ?: error("MIRRORD_JB_VERSION is not set: run through tools/build.sh")
        assertEquals(version, elements(root).first { it.tagName == "version" }.textContent.trim(), "plugin.xml <version>")
        assertEquals("253", elements(root).first { it.tagName == "idea-version" }.getAttribute("since-build"))
        val files = mutableListOf("plugin.xml" to root)
        for (d in elements(root).filter { it.tagName == "depends" && it.hasAttribute("config-file") }) {
            val name = "META-INF/" + d.getAttribute("config-file")
            val b = pj.xml[name]
            assertTrue(b != null, "config-file $name of <depends>${d.textContent}</depends> is not in ${pj.name}")
            assertEquals("true", d.getAttribute("optional"), "${d.textContent} must be optional so the plugin loads in any IDE")
            files += name to parse(b!!)
        }
        val classes = jars.flatMap { it.classes }.toSet()
        var named = 0
        for ((f, xml) in files) {
            for (ext in elements(xml).filter { it.tagName == "extensions" }) {
                val ns = ext.getAttribute("defaultExtensionNs")
                for (ep in elements(ext).drop(1)) assertTrue("$ns.${ep.tagName}" in knownExtensionPoints, "$f: unknown extension point $ns.${ep.tagName}")
            }
            for (e in elements(xml)) for (a in classAttributes) {
                val c = e.getAttribute(a).takeIf { it.isNotEmpty() } ?: continue
                named++
                assertTrue(c in classes, "$f: <${e.tagName} $a=\"$c\"> names no class in the zip's jars")
            }
        }
        assertTrue(named >= 9, "only $named classes named: did the parse miss the files?")
    }
}
