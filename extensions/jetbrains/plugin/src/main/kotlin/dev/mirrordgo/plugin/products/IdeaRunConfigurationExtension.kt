package dev.mirrordgo.plugin.products

import com.intellij.execution.RunConfigurationExtension
import com.intellij.execution.configurations.JavaParameters
import com.intellij.execution.configurations.RunConfigurationBase
import com.intellij.execution.configurations.RunnerSettings
import com.intellij.execution.process.ProcessHandler
import dev.mirrordgo.core.launch.JavaEnv
import dev.mirrordgo.core.launch.RunKind
import dev.mirrordgo.plugin.LaunchBridge

/**
 * Every configuration with Java parameters: Application, JUnit, TestNG,
 * Spring Boot, Kotlin. The JVM gets the session's env; keys the session
 * unsets must also leave the inherited IDE env, so the parent env is
 * then passed explicitly instead.
 */
class IdeaRunConfigurationExtension : RunConfigurationExtension() {
    override fun isApplicableFor(configuration: RunConfigurationBase<*>): Boolean = true

    override fun <T : RunConfigurationBase<*>> updateJavaParameters(configuration: T, params: JavaParameters, runnerSettings: RunnerSettings?) {
        val prepared = LaunchBridge.prepare(configuration.project, RunKind.JVM, params.env.toMap(), configuration.name, params.workingDirectory) ?: return
        LaunchBridge.remember(configuration, prepared) {
            // The decision is core's (JavaEnv.inject, unit-tested); this only reads and writes the parameters.
            val j = JavaEnv.inject(prepared.injection, params.env.toMap(), params.isPassParentEnvs, System.getenv())
            params.isPassParentEnvs = j.passParentEnvs
            params.env = j.env
        }
    }

    override fun attachToProcess(configuration: RunConfigurationBase<*>, handler: ProcessHandler, runnerSettings: RunnerSettings?) {
        LaunchBridge.attach(configuration, handler)
    }
}
