package dev.mirrordgo.plugin

import com.intellij.openapi.Disposable
import com.intellij.openapi.components.Service
import com.intellij.openapi.application.ApplicationManager
import com.intellij.openapi.extensions.PluginId
import com.intellij.ide.plugins.PluginManagerCore
import dev.mirrordgo.core.binary.BinaryLookup
import dev.mirrordgo.core.binary.Machine
import dev.mirrordgo.core.daemon.Daemon
import dev.mirrordgo.core.daemon.DaemonClient
import dev.mirrordgo.core.daemon.DaemonHolder
import dev.mirrordgo.core.launch.SessionTracker
import dev.mirrordgo.core.settings.AutoUpdate
import dev.mirrordgo.gen.UpdatePolicy
import java.io.File
import java.util.concurrent.TimeUnit

/**
 * The IDE's one daemon connection and the sessions its launches hold.
 * Binary lookup, reconnect rules and session bookkeeping are core's; this
 * class only wires them to the IDE's settings and lifetime.
 */
@Service(Service.Level.APP)
class MirrordService : Disposable {
    /**
     * Stops a session through the connection it was started on (the current one may be another build's daemon,
     * which does not know it); only when that connection closed, through the current one (the same daemon may
     * still run it). Then a replaced connection without sessions is closed.
     */
    val tracker: SessionTracker<Daemon> = SessionTracker { daemon, id ->
        try {
            runCatching { (if (daemon is DaemonClient && !daemon.isOpen) holder.get() else daemon).stopSession(id) }
        } finally {
            holder.released(daemon)
        }
    }
    val holder: DaemonHolder<DaemonClient> = DaemonHolder(::connect, { it.isOpen }, tracker::holds)

    private fun connect(): DaemonClient {
        val s = MirrordSettingsState.get().settings
        val auto = AutoUpdate.parse(s.autoUpdate)
        val env = System.getenv()
        val lookup = BinaryLookup(LocalMachine, env["PATH"].orEmpty().split(File.pathSeparatorChar), BinaryLookup.dataDir(env, System.getProperty("user.home")))
        val found = lookup.find(s.binaryPath, auto, pluginVersion())
        found.note?.let { Notifier.warn(null, it) }
        return DaemonClient.connect(found.path, env, pluginVersion(), UpdatePolicy(auto.wire(), s.binaryPath.ifBlank { null }))
    }

    override fun dispose() {
        tracker.stopAll()
        holder.close()
    }

    companion object {
        const val PLUGIN_ID = "dev.mirrordgo.mirrord"

        fun get(): MirrordService = ApplicationManager.getApplication().getService(MirrordService::class.java)

        fun pluginVersion(): String = PluginManagerCore.getPlugin(PluginId.getId(PLUGIN_ID))?.version ?: "0.0.0"
    }
}

/** The real machine for the binary lookup. */
private object LocalMachine : Machine {
    override fun isExecutable(path: String): Boolean = File(path).let { it.isFile && it.canExecute() }

    override fun version(path: String): String? = runCatching {
        val p = ProcessBuilder(path, "--version").redirectErrorStream(true).start()
        if (!p.waitFor(10, TimeUnit.SECONDS)) { p.destroyForcibly(); return null }
        BinaryLookup.parseVersion(p.inputStream.bufferedReader().readText())
    }.getOrNull()
}
