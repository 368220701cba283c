package dev.mirrordgo.core

import dev.mirrordgo.core.targets.TargetDialogModel
import dev.mirrordgo.gen.Target
import dev.mirrordgo.gen.TargetsListResult
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test

class TargetDialogModelTest {
    private val lists = mapOf(
        "apps" to TargetsListResult(
            listOf(Target("pod/web-1", "pod", true), Target("deployment/web", "deployment", true), Target("deployment/broken", "deployment", false),
                Target("statefulset/db", "statefulset", true)),
            "apps", listOf("apps", "other"), "ctx",
        ),
        "other" to TargetsListResult(listOf(Target("deployment/api", "deployment", true)), "other", listOf("apps", "other"), "ctx"),
    )
    private val asked = mutableListOf<String?>()
    private fun load(ns: String?): TargetsListResult { asked += ns; return lists[ns ?: "apps"]!! }

    @Test
    fun `rows - most recent first, available targets by kind, targetless last`() {
        val m = TargetDialogModel(::load, "pod/web-1")
        assertEquals(listOf("pod/web-1 (most recent)", "deployment/web", "statefulset/db", TargetDialogModel.TARGETLESS_LABEL), m.items.map { it.label })
        assertEquals("pod/web-1", m.initialSelection.path)
        assertEquals(listOf("apps", "other"), m.namespaces)
        assertEquals(listOf<String?>(null), asked, "the first list leaves the namespace to the config and the kube context")
    }

    @Test
    fun `a recent target that is gone is not offered, and targetless is a choice with the namespace`() {
        val m = TargetDialogModel(::load, "deployment/removed")
        assertEquals("deployment/web", m.initialSelection.path)
        val c = m.choose(m.items.last())
        assertNull(c.target)
        assertEquals("apps", c.namespace)
    }

    @Test
    fun `switching namespace lists it again and the choice carries it`() {
        val m = TargetDialogModel(::load, null)
        m.switchNamespace("other")
        m.switchNamespace("other") // no second call for the namespace shown
        assertEquals(listOf(null, "other"), asked)
        assertEquals("other", m.namespace)
        assertEquals("deployment/api", m.choose(m.items.first()).target)
        assertEquals("other", m.choose(m.items.first()).namespace)
    }

    @Test
    fun `an empty namespace still offers targetless, and the dropdown holds the namespace shown`() {
        val m = TargetDialogModel({ TargetsListResult(emptyList(), "locked", emptyList(), "ctx") }, null)
        assertEquals(listOf(TargetDialogModel.TARGETLESS_LABEL), m.items.map { it.label })
        assertEquals(listOf("locked"), m.namespaces)
    }
}
