package dev.mirrordgo.plugin.products

import com.intellij.execution.configurations.GeneralCommandLine
import com.intellij.execution.configurations.RunnerSettings
import com.intellij.execution.process.ProcessHandler
import com.jetbrains.python.run.AbstractPythonRunConfiguration
import com.jetbrains.python.run.PythonRunConfigurationExtension as PyExtension
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.plugin.LaunchBridge

/** PyCharm's Python run configurations (local interpreters). */
class PythonRunConfigurationExtension : PyExtension() {
    override fun isApplicableFor(configuration: AbstractPythonRunConfiguration<*>): Boolean = true

    override fun isEnabledFor(applicableConfiguration: AbstractPythonRunConfiguration<*>, runnerSettings: RunnerSettings?): Boolean = true

    override fun patchCommandLine(configuration: AbstractPythonRunConfiguration<*>, runnerSettings: RunnerSettings?, cmdLine: GeneralCommandLine, runnerId: String) {
        val prepared = LaunchBridge.prepare(configuration.project, RunKind.PYTHON, configuration.envs, configuration.name, cmdLine.workDirectory?.path) ?: return
        LaunchBridge.remember(configuration, prepared) {
            cmdLine.environment.putAll(prepared.injection.env)
            prepared.injection.unset.forEach { cmdLine.environment.remove(it) }
        }
    }

    override fun attachToProcess(configuration: AbstractPythonRunConfiguration<*>, handler: ProcessHandler, runnerSettings: RunnerSettings?) {
        LaunchBridge.attach(configuration, handler)
    }
}
