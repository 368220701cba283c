package dev.mirrordgo.plugin

import com.intellij.execution.ExecutionListener
import com.intellij.execution.process.ProcessHandler
import com.intellij.execution.runners.ExecutionEnvironment

/**
 * Every execution's start or failure: undoes the adapters' changes to
 * stored run configurations, moves an execution's session to its process
 * and stops the session of a launch whose process never started.
 */
class LaunchExecutionListener : ExecutionListener {
    override fun processStarted(executorId: String, env: ExecutionEnvironment, handler: ProcessHandler) {
        LaunchBridge.started(env, handler)
    }

    override fun processNotStarted(executorId: String, env: ExecutionEnvironment) {
        LaunchBridge.notStarted(env)
    }
}
