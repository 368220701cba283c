package dev.mirrordgo.core.daemon

import com.google.gson.reflect.TypeToken
import dev.mirrordgo.core.rpc.RpcConnection
import dev.mirrordgo.core.rpc.RpcException
import dev.mirrordgo.gen.ClientInfo
import dev.mirrordgo.gen.ConfigDiscoverParams
import dev.mirrordgo.gen.ConfigDiscoverResult
import dev.mirrordgo.gen.ConfigResolveParams
import dev.mirrordgo.gen.ConfigResolveResult
import dev.mirrordgo.gen.ConfigValidateParams
import dev.mirrordgo.gen.ConfigValidateResult
import dev.mirrordgo.gen.DaemonMethods
import dev.mirrordgo.gen.DaemonNotifications
import dev.mirrordgo.gen.DaemonStatusResult
import dev.mirrordgo.gen.Empty
import dev.mirrordgo.gen.ErrorCodes
import dev.mirrordgo.gen.InitializeOptions
import dev.mirrordgo.gen.InitializeParams
import dev.mirrordgo.gen.InitializeResult
import dev.mirrordgo.gen.NamespacesListParams
import dev.mirrordgo.gen.NamespacesListResult
import dev.mirrordgo.gen.PROTOCOL_VERSION
import dev.mirrordgo.gen.ProgressParams
import dev.mirrordgo.gen.SchemaGetResult
import dev.mirrordgo.gen.SessionEndedParams
import dev.mirrordgo.gen.SessionsListResult
import dev.mirrordgo.gen.SessionsStartParams
import dev.mirrordgo.gen.SessionsStartResult
import dev.mirrordgo.gen.SessionsStopParams
import dev.mirrordgo.gen.TargetsListParams
import dev.mirrordgo.gen.TargetsListResult
import dev.mirrordgo.gen.UpdatePolicy
import java.io.Closeable
import java.lang.reflect.Type
import java.time.Duration
import java.util.UUID
import java.util.concurrent.ConcurrentHashMap

/**
 * A connected, initialised daemon. [connect] runs `mirrord daemon
 * connect`, which finds the per-user socket, starts the daemon when none
 * runs and bridges stdio to it: the binary owns socket paths, locking and
 * autostart, so the plugin can never disagree with the CLI about them.
 */
class DaemonClient private constructor(
    private val rpc: RpcConnection,
    private val process: Process?,
    val info: InitializeResult,
) : Daemon, Closeable {
    private val progressSinks = ConcurrentHashMap<String, (String) -> Unit>()
    private val endedListeners = mutableListOf<(SessionEndedParams) -> Unit>()

    init {
        rpc.onNotification(DaemonNotifications.PROGRESS, ProgressParams::class.java) { p ->
            val text = listOfNotNull(p.value.title, p.value.message).joinToString(": ")
            if (text.isNotEmpty()) progressSinks[p.token]?.invoke(text)
        }
        rpc.onNotification(DaemonNotifications.SESSION_ENDED, SessionEndedParams::class.java) { p ->
            synchronized(endedListeners) { endedListeners.toList() }.forEach { it(p) }
        }
    }

    val isOpen: Boolean get() = rpc.isOpen

    /** `session/ended`: a runner died or its warm time ran out. Runs on the reader thread. */
    fun onSessionEnded(listener: (SessionEndedParams) -> Unit) {
        synchronized(endedListeners) { endedListeners += listener }
    }

    /** Other server notifications (targets/changed, config/changed, update/available). */
    fun <P> onNotification(method: String, type: Class<P>, handler: (P) -> Unit) = rpc.onNotification(method, type, handler)

    fun onClose(listener: (Throwable?) -> Unit) = rpc.onClose(listener)

    private inline fun <reified R> call(method: String, params: Any?, timeout: Duration = DEFAULT_TIMEOUT): R {
        val type: Type = object : TypeToken<R>() {}.type
        return rpc.request(method, params, type, timeout)
    }

    override fun targets(p: TargetsListParams): TargetsListResult = call(DaemonMethods.TARGETS_LIST, p)
    override fun namespaces(p: NamespacesListParams): NamespacesListResult = call(DaemonMethods.NAMESPACES_LIST, p)
    override fun discover(p: ConfigDiscoverParams): ConfigDiscoverResult = call(DaemonMethods.CONFIG_DISCOVER, p)
    override fun resolve(p: ConfigResolveParams): ConfigResolveResult = call(DaemonMethods.CONFIG_RESOLVE, p)
    override fun validate(p: ConfigValidateParams): ConfigValidateResult = call(DaemonMethods.CONFIG_VALIDATE, p)
    override fun sessions(): SessionsListResult = call(DaemonMethods.SESSIONS_LIST, Empty())
    fun status(): DaemonStatusResult = call(DaemonMethods.DAEMON_STATUS, Empty())
    fun schema(): SchemaGetResult = call(DaemonMethods.SCHEMA_GET, Empty())

    override fun startSession(p: SessionsStartParams, onProgress: (String) -> Unit): SessionsStartResult {
        // Our own token, so progress of another window's start never shows here.
        val token = p.workDoneToken ?: "jb-${UUID.randomUUID()}"
        progressSinks[token] = onProgress
        try {
            // Creating an agent can take the agent's startup timeout; the daemon reports that itself.
            return call(DaemonMethods.SESSIONS_START, p.copy(workDoneToken = token), SESSION_START_TIMEOUT)
        } finally {
            progressSinks.remove(token)
        }
    }

    override fun stopSession(id: String) {
        call<Any?>(DaemonMethods.SESSIONS_STOP, SessionsStopParams(id))
    }

    /** Stops the whole daemon (every client's sessions end); for tests and "Stop mirrord daemon". */
    fun stopDaemon() {
        call<Any?>(DaemonMethods.DAEMON_STOP, Empty())
    }

    override fun close() {
        runCatching { rpc.notify(DaemonNotifications.EXIT, Empty()) }
        rpc.close()
        process?.destroy()
    }

    companion object {
        val DEFAULT_TIMEOUT: Duration = Duration.ofSeconds(30)
        val SESSION_START_TIMEOUT: Duration = Duration.ofMinutes(5)

        /**
         * Starts `binary daemon connect` with [env] as its whole environment
         * (the daemon it may start inherits it: KUBECONFIG, XDG dirs) and
         * runs the `initialize` handshake.
         */
        fun connect(binary: String, env: Map<String, String>, clientVersion: String, update: UpdatePolicy? = null): DaemonClient {
            val pb = ProcessBuilder(binary, "daemon", "connect")
            pb.environment().clear()
            pb.environment().putAll(env)
            val proc = try {
                pb.start()
            } catch (e: Exception) {
                throw RpcException(ErrorCodes.USER, "cannot run $binary: ${e.message}; set the mirrord binary path in Settings | Tools | mirrord", cause = e)
            }
            val stderr = StderrTail(proc)
            val rpc = RpcConnection(proc.inputStream, proc.outputStream).start()
            try {
                return handshake(rpc, proc, clientVersion, update)
            } catch (e: RpcException) {
                proc.destroy()
                if (e.code != RpcException.CONNECTION_CLOSED) throw e
                throw RpcException(e.code, "`$binary daemon connect` ended: ${stderr.text().ifBlank { "no output" }}", cause = e)
            }
        }

        /** The handshake over an existing connection (tests use pipes). */
        fun handshake(rpc: RpcConnection, process: Process?, clientVersion: String, update: UpdatePolicy? = null): DaemonClient {
            val params = InitializeParams(
                processId = ProcessHandle.current().pid().toInt(),
                clientInfo = ClientInfo("mirrord-jetbrains", clientVersion),
                protocolVersion = PROTOCOL_VERSION,
                initializationOptions = update?.let { InitializeOptions(it) },
            )
            val info: InitializeResult = rpc.request(DaemonMethods.INITIALIZE, params, InitializeResult::class.java, DEFAULT_TIMEOUT)
            if (info.protocolVersion != PROTOCOL_VERSION) {
                rpc.close()
                throw RpcException(ErrorCodes.USER, "the mirrord binary speaks daemon protocol ${info.protocolVersion}, this plugin " +
                    "$PROTOCOL_VERSION: update the plugin or point Settings | Tools | mirrord at a matching binary")
            }
            rpc.notify(DaemonNotifications.INITIALIZED, Empty())
            return DaemonClient(rpc, process, info)
        }
    }
}
