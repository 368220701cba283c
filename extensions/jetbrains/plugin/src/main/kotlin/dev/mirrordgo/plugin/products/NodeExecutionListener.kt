package dev.mirrordgo.plugin.products

import com.intellij.execution.ExecutionListener
import com.intellij.execution.process.ProcessHandler
import com.intellij.execution.runners.ExecutionEnvironment
import com.jetbrains.nodejs.run.NodeJsRunConfiguration
import dev.mirrordgo.plugin.LaunchBridge

/** Restores a Node.js configuration's envs once its process started, and stops the session at its end. */
class NodeExecutionListener : ExecutionListener {
    override fun processStarted(executorId: String, env: ExecutionEnvironment, handler: ProcessHandler) {
        val config = env.runProfile as? NodeJsRunConfiguration ?: return
        NodeRunConfigurationExtension.originals.remove(config)?.let { config.envs = it }
        LaunchBridge.attach(config, handler)
    }

    override fun processNotStarted(executorId: String, env: ExecutionEnvironment) {
        val config = env.runProfile as? NodeJsRunConfiguration ?: return
        NodeRunConfigurationExtension.originals.remove(config)?.let { config.envs = it }
    }
}
