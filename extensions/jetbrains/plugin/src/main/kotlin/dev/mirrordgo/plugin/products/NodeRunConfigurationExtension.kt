package dev.mirrordgo.plugin.products

import com.intellij.execution.runners.ExecutionEnvironment
import com.intellij.javascript.nodejs.execution.AbstractNodeTargetRunProfile
import com.intellij.javascript.nodejs.execution.runConfiguration.AbstractNodeRunConfigurationExtension
import com.intellij.javascript.nodejs.execution.runConfiguration.NodeRunConfigurationLaunchSession
import com.intellij.openapi.options.SettingsEditor
import com.jetbrains.nodejs.run.NodeJsRunConfiguration
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.plugin.LaunchBridge

/**
 * Node.js run configurations. This extension point can only change the
 * configuration's own envs (which the launch reads afterwards), so the
 * original envs are kept and LaunchExecutionListener puts them back once
 * the process started (or the run failed), and ties the session to this
 * execution's process. Without that, the next run would carry this
 * session's env and be refused as stale by the launch rule.
 */
class NodeRunConfigurationExtension : AbstractNodeRunConfigurationExtension() {
    override fun isApplicableFor(profile: AbstractNodeTargetRunProfile): Boolean = profile is NodeJsRunConfiguration

    override fun <P : AbstractNodeTargetRunProfile> createEditor(configuration: P): SettingsEditor<P>? = null

    override fun getEditorTitle(): String? = null

    override fun createLaunchSession(configuration: AbstractNodeTargetRunProfile, environment: ExecutionEnvironment): NodeRunConfigurationLaunchSession? {
        val config = configuration as? NodeJsRunConfiguration ?: return null
        val prepared = LaunchBridge.prepare(config.project, RunKind.NODE, config.envs, config.name, config.workingDirectory) ?: return null
        LaunchBridge.remember(environment, prepared) {
            val original = config.envs
            LaunchBridge.undoAfterStart(environment) { config.envs = original }
            config.envs = prepared.injection.env
        }
        return null
    }
}
