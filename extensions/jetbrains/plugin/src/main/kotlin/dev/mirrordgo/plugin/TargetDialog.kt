package dev.mirrordgo.plugin

import com.intellij.openapi.progress.ProgressManager
import com.intellij.openapi.project.Project
import com.intellij.openapi.ui.ComboBox
import com.intellij.openapi.ui.DialogWrapper
import com.intellij.ui.components.JBList
import com.intellij.ui.components.JBScrollPane
import dev.mirrordgo.core.targets.TargetDialogModel
import dev.mirrordgo.core.targets.TargetItem
import java.awt.BorderLayout
import java.awt.Dimension
import javax.swing.DefaultComboBoxModel
import javax.swing.JComponent
import javax.swing.JPanel
import javax.swing.ListSelectionModel

/**
 * The target dialog: a namespace dropdown over the list of core's
 * [TargetDialogModel] (most recent first, targetless last). Switching
 * namespace lists it under a modal progress, off the UI thread.
 */
class TargetDialog(private val project: Project?, private val model: TargetDialogModel) : DialogWrapper(project, true) {
    private val list = JBList<TargetItem>().apply {
        selectionMode = ListSelectionModel.SINGLE_SELECTION
        setCellRenderer { _, value, _, selected, _ ->
            javax.swing.JLabel(value.label).apply { isOpaque = selected }
        }
    }
    private val namespaces = ComboBox<String>()

    init {
        title = "mirrord: Choose a Target" + model.kubeContext.let { if (it.isEmpty()) "" else " ($it)" }
        refresh()
        namespaces.addActionListener {
            val ns = namespaces.selectedItem as? String ?: return@addActionListener
            if (ns == model.namespace) return@addActionListener
            try {
                ProgressManager.getInstance().runProcessWithProgressSynchronously<Unit, Exception>({ model.switchNamespace(ns) }, "Listing targets in $ns", true, project)
            } catch (e: Exception) {
                Notifier.error(project, e)
            }
            refresh()
        }
        init()
    }

    private fun refresh() {
        namespaces.model = DefaultComboBoxModel(model.namespaces.toTypedArray()).apply { selectedItem = model.namespace }
        list.setListData(model.items.toTypedArray())
        list.setSelectedValue(model.initialSelection, true)
    }

    override fun createCenterPanel(): JComponent = JPanel(BorderLayout(0, 8)).apply {
        add(namespaces, BorderLayout.NORTH)
        add(JBScrollPane(list), BorderLayout.CENTER)
        preferredSize = Dimension(480, 360)
    }

    override fun getPreferredFocusedComponent(): JComponent = list

    /** The chosen row, or null when the dialog was cancelled. */
    fun selected(): TargetItem? = list.selectedValue
}
