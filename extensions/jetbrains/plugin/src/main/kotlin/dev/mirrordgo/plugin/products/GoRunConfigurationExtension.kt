package dev.mirrordgo.plugin.products

import com.goide.execution.GoRunConfigurationBase
import com.goide.execution.GoRunningState
import com.goide.execution.extension.GoRunConfigurationExtension as GoExtension
import com.intellij.execution.configurations.RunnerSettings
import com.intellij.execution.target.TargetedCommandLineBuilder
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.plugin.LaunchBridge

/**
 * GoLand's run configurations. Only the RUN command line gets the
 * session (not `go build`); the build tools and dlv are kept out by
 * MIRRORD_SKIP_PROCESSES from core's debugger variables.
 */
class GoRunConfigurationExtension : GoExtension() {
    override fun isApplicableFor(configuration: GoRunConfigurationBase<*>): Boolean = true

    override fun isEnabledFor(applicableConfiguration: GoRunConfigurationBase<*>, runnerSettings: RunnerSettings?): Boolean = true

    override fun patchCommandLine(
        configuration: GoRunConfigurationBase<*>,
        runnerSettings: RunnerSettings?,
        cmdLine: TargetedCommandLineBuilder,
        runnerId: String,
        state: GoRunningState<out GoRunConfigurationBase<*>>,
        commandLineType: GoRunningState.CommandLineType,
    ) {
        if (commandLineType == GoRunningState.CommandLineType.RUN) {
            val prepared = LaunchBridge.prepare(configuration.project, RunKind.GO, configuration.customEnvironment, configuration.name, configuration.workingDirectory)
            if (prepared != null) {
                // Keyed by the execution: LaunchExecutionListener ties the session to the process, or stops it when the run fails.
                LaunchBridge.remember(state.environment, prepared) {
                    prepared.injection.env.forEach { (k, v) -> cmdLine.addEnvironmentVariable(k, v) }
                    prepared.injection.unset.forEach { cmdLine.removeEnvironmentVariable(it) }
                }
            }
        }
        super.patchCommandLine(configuration, runnerSettings, cmdLine, runnerId, state, commandLineType)
    }
}
