package dev.mirrordgo.core.targets

import dev.mirrordgo.gen.Target
import dev.mirrordgo.gen.TargetsListResult

/** One row of the target dialog; [path] null is "No target (targetless)". */
data class TargetItem(val label: String, val path: String?, val kind: String? = null)

/** What the dialog returns: a target path (null: targetless) and the namespace it was listed in. */
data class TargetChoice(val target: String?, val namespace: String)

/**
 * The target dialog's state, free of Swing so that it is unit-tested and
 * tested against the real daemon: the namespace dropdown, the rows (the
 * most recent target first when it is still listed, then the available
 * targets by kind, then targetless), and the selection. [load] lists a
 * namespace (null: the config's or the context's default); the dialog
 * calls it off the UI thread.
 */
class TargetDialogModel(private val load: (namespace: String?) -> TargetsListResult, private val recent: String?) {
    var namespace: String = ""
        private set
    var namespaces: List<String> = emptyList()
        private set
    var kubeContext: String = ""
        private set
    var items: List<TargetItem> = emptyList()
        private set

    /** The row selected when the dialog opens: the most recent target, else the first target, else targetless. */
    val initialSelection: TargetItem get() = items.first()

    init {
        apply(load(null))
    }

    /** Lists another namespace (the dropdown changed). */
    fun switchNamespace(ns: String) {
        if (ns != namespace) apply(load(ns))
    }

    fun choose(item: TargetItem): TargetChoice = TargetChoice(item.path, namespace)

    private fun apply(r: TargetsListResult) {
        namespace = r.currentNamespace
        // The dropdown always holds the namespace shown, even when listing namespaces is forbidden.
        namespaces = (r.namespaces + r.currentNamespace).filter { it.isNotEmpty() }.distinct().sorted()
        kubeContext = r.kubeContext
        items = rows(r.targets, recent)
    }

    companion object {
        const val TARGETLESS_LABEL = "No target (\"targetless\")"
        private val KIND_ORDER = listOf("deployment", "rollout", "statefulset", "pod", "cronjob", "job", "replicaset", "service")

        fun rows(targets: List<Target>, recent: String?): List<TargetItem> {
            val available = targets.filter { it.available }
            val out = mutableListOf<TargetItem>()
            val recentTarget = available.firstOrNull { it.path == recent }
            if (recentTarget != null) out += TargetItem("${recentTarget.path} (most recent)", recentTarget.path, recentTarget.kind)
            available
                .filter { it.path != recent }
                .sortedWith(compareBy<Target>({ KIND_ORDER.indexOf(it.kind).let { i -> if (i < 0) KIND_ORDER.size else i } }, { it.path }))
                .forEach { out += TargetItem(it.path, it.path, it.kind) }
            out += TargetItem(TARGETLESS_LABEL, null)
            return out
        }
    }
}
