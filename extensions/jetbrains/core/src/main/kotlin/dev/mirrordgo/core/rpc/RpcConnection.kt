package dev.mirrordgo.core.rpc

import com.google.gson.Gson
import com.google.gson.GsonBuilder
import com.google.gson.JsonElement
import com.google.gson.JsonNull
import com.google.gson.JsonObject
import com.google.gson.JsonParser
import dev.mirrordgo.gen.ErrorCodes
import java.io.Closeable
import java.io.InputStream
import java.io.OutputStream
import java.lang.reflect.Type
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import java.util.concurrent.atomic.AtomicLong

/**
 * A JSON-RPC 2.0 peer over any pair of streams (the daemon bridge's stdio,
 * a socket, or pipes in tests). One reader thread owns the input stream
 * and completes the pending requests; writers are serialised on the output
 * stream. Notification handlers run on the reader thread, so they must
 * hand long work elsewhere (the IDE adapters post to the UI or a pooled
 * thread), or the next answer would wait for them.
 */
class RpcConnection(
    private val input: InputStream,
    private val output: OutputStream,
    private val name: String = "mirrord-daemon",
) : Closeable {
    private val gson: Gson = GsonBuilder().disableHtmlEscaping().create()
    private val nextId = AtomicLong(1)
    private val pending = ConcurrentHashMap<Long, CompletableFuture<JsonElement>>()
    private val handlers = ConcurrentHashMap<String, (JsonElement) -> Unit>()
    private val closeListeners = mutableListOf<(Throwable?) -> Unit>()
    private val writeLock = Any()
    @Volatile private var closedBy: Throwable? = null
    @Volatile private var closed = false
    private val reader = Thread(::readLoop, "$name-reader").apply { isDaemon = true }

    /** Starts reading; handlers registered before this see every notification. */
    fun start(): RpcConnection = apply { reader.start() }

    /** Registers the handler of one notification method (replacing any earlier one). */
    fun <P> onNotification(method: String, type: Class<P>, handler: (P) -> Unit) {
        handlers[method] = { params -> handler(gson.fromJson(params, type)) }
    }

    /** Called once when the connection ends; the argument is the cause, null for a clean end. */
    fun onClose(listener: (Throwable?) -> Unit) {
        synchronized(closeListeners) { closeListeners += listener }
    }

    val isOpen: Boolean get() = !closed

    /** Sends a request and waits for its answer, decoded as [type]. */
    fun <R> request(method: String, params: Any?, type: Type, timeout: Duration): R {
        val future = requestAsync(method, params)
        val result = try {
            future.get(timeout.toMillis(), TimeUnit.MILLISECONDS)
        } catch (e: TimeoutException) {
            future.cancel(false)
            throw RpcException(ErrorCodes.NETWORK, "the daemon did not answer $method within ${timeout.seconds}s", cause = e)
        } catch (e: ExecutionException) {
            throw e.cause ?: e
        }
        return gson.fromJson(result, type)
    }

    /** Sends a request; the future fails with an [RpcException] for an error answer. */
    fun requestAsync(method: String, params: Any?): CompletableFuture<JsonElement> {
        val id = nextId.getAndIncrement()
        val future = CompletableFuture<JsonElement>()
        pending[id] = future
        future.whenComplete { _, _ -> pending.remove(id) }
        if (closed) {
            future.completeExceptionally(closedError(method, closedBy))
            return future
        }
        val msg = JsonObject().apply {
            addProperty("jsonrpc", "2.0")
            addProperty("id", id)
            addProperty("method", method)
            add("params", gson.toJsonTree(params ?: JsonObject()))
        }
        try {
            send(msg)
        } catch (e: Exception) {
            future.completeExceptionally(closedError(method, e))
        }
        return future
    }

    fun notify(method: String, params: Any?) {
        val msg = JsonObject().apply {
            addProperty("jsonrpc", "2.0")
            addProperty("method", method)
            add("params", gson.toJsonTree(params ?: JsonObject()))
        }
        send(msg)
    }

    private fun send(msg: JsonObject) {
        synchronized(writeLock) { Framing.write(output, gson.toJson(msg)) }
    }

    private fun readLoop() {
        var cause: Throwable? = null
        try {
            while (true) {
                val text = Framing.read(input) ?: break
                dispatch(JsonParser.parseString(text).asJsonObject)
            }
        } catch (e: Exception) {
            if (!closed) cause = e
        }
        finish(cause)
    }

    private fun dispatch(msg: JsonObject) {
        val id = msg.get("id")?.takeUnless { it.isJsonNull }
        val method = msg.get("method")?.asString
        when {
            method != null && id == null -> {
                val h = handlers[method] ?: return
                // A handler's bug must not end the connection.
                runCatching { h(msg.get("params") ?: JsonNull.INSTANCE) }
            }
            method != null -> answerUnknown(id!!, method) // the daemon sends no requests today
            id != null -> complete(id.asLong, msg)
        }
    }

    private fun complete(id: Long, msg: JsonObject) {
        val future = pending[id] ?: return
        val err = msg.get("error")?.takeUnless { it.isJsonNull }?.asJsonObject
        if (err == null) {
            future.complete(msg.get("result") ?: JsonNull.INSTANCE)
            return
        }
        val data = err.get("data")?.takeIf { it.isJsonObject }?.let { runCatching { gson.fromJson(it, ErrorData::class.java) }.getOrNull() }
        future.completeExceptionally(RpcException(err.get("code")?.asInt ?: ErrorCodes.INTERNAL, err.get("message")?.asString ?: "", data))
    }

    private fun answerUnknown(id: JsonElement, method: String) {
        val msg = JsonObject().apply {
            addProperty("jsonrpc", "2.0")
            add("id", id)
            add("error", JsonObject().apply {
                addProperty("code", ErrorCodes.METHOD_NOT_FOUND)
                addProperty("message", "the mirrord JetBrains client does not serve $method")
            })
        }
        runCatching { send(msg) }
    }

    private fun closedError(method: String, cause: Throwable?) =
        RpcException(RpcException.CONNECTION_CLOSED, "the connection to the mirrord daemon closed before $method was answered" +
            (cause?.message?.let { ": $it" } ?: ""), cause = cause)

    private fun finish(cause: Throwable?) {
        closedBy = cause ?: IllegalStateException("closed")
        closed = true
        for ((_, f) in pending) f.completeExceptionally(closedError("the request", cause))
        val listeners = synchronized(closeListeners) { closeListeners.toList() }
        listeners.forEach { runCatching { it(cause) } }
    }

    /** Closes both streams; the reader ends and fails what is still pending. */
    override fun close() {
        closed = true
        runCatching { output.close() }
        runCatching { input.close() }
    }
}
