package dev.mirrordgo.core

import com.google.gson.JsonElement
import com.google.gson.JsonObject
import com.google.gson.JsonParser
import dev.mirrordgo.core.rpc.Framing
import dev.mirrordgo.core.rpc.RpcConnection
import java.io.PipedInputStream
import java.io.PipedOutputStream
import java.util.concurrent.LinkedBlockingQueue

/**
 * The server end of an in-process connection over pipes: it reads the
 * client's frames and answers each request on its own thread through
 * [handle], which returns a result or throws [Fail] for an error answer.
 * One long-lived thread does all the writing: a PipedInputStream reports
 * "write end dead" once the thread that last wrote to it has ended. Every message received is kept in
 * [seen] so tests can assert on what the client sent.
 */
class FakePeer(private val handle: FakePeer.(method: String, params: JsonElement?) -> Any?) : AutoCloseable {
    class Fail(val code: Int, message: String, val data: Any? = null) : Exception(message)

    private val toClient = PipedOutputStream()
    private val clientIn = PipedInputStream(toClient, 1 shl 16)
    private val fromClient = PipedOutputStream()
    private val serverIn = PipedInputStream(fromClient, 1 shl 16)
    val seen = LinkedBlockingQueue<JsonObject>()
    private val gson = com.google.gson.Gson()

    val client: RpcConnection = RpcConnection(clientIn, fromClient, "test")

    private val loop = Thread {
        try {
            while (true) {
                val msg = JsonParser.parseString(Framing.read(serverIn) ?: break).asJsonObject
                seen += msg
                val id = msg.get("id") ?: continue
                val method = msg.get("method")?.asString ?: continue
                Thread {
                    val answer = JsonObject().apply { addProperty("jsonrpc", "2.0"); add("id", id) }
                    try {
                        answer.add("result", gson.toJsonTree(handle(method, msg.get("params"))))
                    } catch (f: Fail) {
                        answer.add("error", JsonObject().apply {
                            addProperty("code", f.code)
                            addProperty("message", f.message)
                            if (f.data != null) add("data", gson.toJsonTree(f.data))
                        })
                    } catch (_: InterruptedException) {
                        return@Thread
                    }
                    send(answer)
                }.apply { isDaemon = true; start() }
            }
        } catch (_: Exception) {
        }
    }.apply { isDaemon = true; start() }

    private val outbox = LinkedBlockingQueue<String>()
    private val writer = Thread {
        try {
            while (true) Framing.write(toClient, outbox.take())
        } catch (_: Exception) {
        }
    }.apply { isDaemon = true; start() }

    /** Queues a message to the client; messages keep their order. */
    fun send(msg: JsonObject) {
        outbox += gson.toJson(msg)
    }

    fun notifyClient(method: String, params: Any) = send(JsonObject().apply {
        addProperty("jsonrpc", "2.0")
        addProperty("method", method)
        add("params", gson.toJsonTree(params))
    })

    /** Ends the server's side: the client sees end of stream. */
    override fun close() {
        runCatching { toClient.close() }
        runCatching { serverIn.close() }
    }
}
