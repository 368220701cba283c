package dev.mirrordgo.plugin.products

import com.intellij.execution.Executor
import com.intellij.execution.configurations.RunnerSettings
import com.intellij.execution.configurations.SimpleJavaParameters
import com.intellij.openapi.externalSystem.service.execution.ExternalSystemRunConfiguration
import com.intellij.openapi.externalSystem.service.execution.ExternalSystemRunConfigurationExtension
import com.intellij.openapi.externalSystem.service.execution.ExternalSystemProcessHandler
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.plugin.LaunchBridge

/**
 * Gradle (and other external-system) runs. The env goes into the run's
 * settings, which Gradle hands to the daemon-spawned JVM, and is undone
 * once the run started; the session is the Gradle process tree's (the
 * layer follows children).
 */
// The Java ExternalSystemRunConfigurationExtension is deprecated for the Kotlin one in `.configuration`; kept until its
// signatures are checked against the real SDK.
@Suppress("DEPRECATION")
class GradleRunConfigurationExtension : ExternalSystemRunConfigurationExtension() {
    override fun isApplicableFor(configuration: ExternalSystemRunConfiguration): Boolean = true

    override fun updateVMParameters(configuration: ExternalSystemRunConfiguration, javaParameters: SimpleJavaParameters, settings: RunnerSettings?, executor: Executor) {
        val s = configuration.settings
        val buildOnly = s.taskNames.isNotEmpty() && s.taskNames.all { it.substringAfterLast(':') in BUILD_TASKS }
        val prepared = LaunchBridge.prepare(configuration.project, RunKind.GRADLE, s.env, configuration.name, s.externalProjectPath, buildOnly) ?: return
        LaunchBridge.remember(configuration, prepared) {
            // The env can only go into the stored run configuration's settings: put the original back once the
            // run started or failed (as the Node adapter does), or the next run would carry this session's env
            // and be refused as stale by the launch rule.
            val original = s.env
            LaunchBridge.undoAfterStart(configuration) { s.env = original }
            // Not passing the unset keys through: Gradle's env is its daemon's, which the IDE does not start fresh.
            s.env = original + prepared.injection.env
        }
    }

    override fun attachToProcess(configuration: ExternalSystemRunConfiguration, processHandler: ExternalSystemProcessHandler, settings: RunnerSettings?) {
        LaunchBridge.attach(configuration, processHandler)
    }

    private companion object {
        val BUILD_TASKS = setOf("build", "assemble", "classes", "compileJava", "compileKotlin", "jar", "clean", "testClasses", "processResources")
    }
}
