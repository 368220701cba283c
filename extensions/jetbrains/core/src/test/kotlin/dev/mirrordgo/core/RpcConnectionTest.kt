package dev.mirrordgo.core

import com.google.gson.JsonElement
import dev.mirrordgo.core.rpc.ErrorData
import dev.mirrordgo.core.rpc.RpcException
import dev.mirrordgo.gen.ErrorCodes
import dev.mirrordgo.gen.Issue
import dev.mirrordgo.gen.TargetsChangedParams
import java.time.Duration
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.test.assertFailsWith

class RpcConnectionTest {
    private val sec = Duration.ofSeconds(5)

    @Test
    fun `answers reach the request that asked, even out of order`() {
        val release = CountDownLatch(1)
        FakePeer { method, params ->
            if (method == "slow") release.await()
            mapOf("echo" to params?.asJsonObject?.get("n")?.asInt)
        }.use { peer ->
            val c = peer.client.start()
            val slow = c.requestAsync("slow", mapOf("n" to 1))
            val fast: Map<String, Double> = c.request("fast", mapOf("n" to 2), Map::class.java, sec)
            assertEquals(2.0, fast["echo"])
            release.countDown()
            assertEquals(1, slow.get(5, TimeUnit.SECONDS).asJsonObject.get("echo").asInt)
        }
    }

    @Test
    fun `an error answer carries its code, help and positioned issues`() {
        FakePeer { _, _ ->
            throw FakePeer.Fail(ErrorCodes.CONFIG, "bad config", ErrorData("config", "fix line 2", listOf(Issue(file = "/p/m.json", line = 2, col = 5, message = "unknown key"))))
        }.use { peer ->
            val e = assertFailsWith<RpcException> { peer.client.start().request<Any>("config/resolve", null, Any::class.java, sec) }
            assertEquals(ErrorCodes.CONFIG, e.code)
            assertTrue(e.isConfig)
            assertEquals("fix line 2", e.data?.help)
            assertEquals(2, e.data?.issues?.single()?.line)
        }
    }

    @Test
    fun `notifications reach their handler, and a throwing handler does not end the connection`() {
        val got = LinkedBlockingQueue<TargetsChangedParams>()
        FakePeer { _, _ -> "pong" }.use { peer ->
            val c = peer.client
            c.onNotification("boom", Any::class.java) { throw IllegalStateException("handler bug") }
            c.onNotification("targets/changed", TargetsChangedParams::class.java) { got += it }
            c.start()
            peer.notifyClient("boom", mapOf<String, String>())
            peer.notifyClient("targets/changed", TargetsChangedParams("apps", "ctx"))
            assertEquals("apps", got.poll(5, TimeUnit.SECONDS)?.namespace)
            assertEquals("pong", c.request<String>("ping", null, String::class.java, sec))
        }
    }

    @Test
    fun `requests pending when the peer goes away fail at once, naming the cause`() {
        val closed = CountDownLatch(1)
        val peer = FakePeer { _, _ -> Thread.sleep(60_000) }
        val c = peer.client
        c.onClose { closed.countDown() }
        c.start()
        val pending = c.requestAsync("never", null)
        peer.close()
        assertTrue(closed.await(5, TimeUnit.SECONDS))
        val e = assertFailsWith<java.util.concurrent.ExecutionException> { pending.get(5, TimeUnit.SECONDS) }.cause as RpcException
        assertEquals(RpcException.CONNECTION_CLOSED, e.code)
        val after = assertFailsWith<RpcException> { c.request<JsonElement>("later", null, JsonElement::class.java, sec) }
        assertEquals(RpcException.CONNECTION_CLOSED, after.code)
    }

    @Test
    fun `a request without an answer times out naming the method`() {
        FakePeer { _, _ -> Thread.sleep(60_000) }.use { peer ->
            val e = assertFailsWith<RpcException> { peer.client.start().request<Any>("targets/list", null, Any::class.java, Duration.ofMillis(200)) }
            assertEquals(ErrorCodes.NETWORK, e.code)
            assertTrue(e.message!!.contains("targets/list"), e.message)
        }
    }

    @Test
    fun `a request from the daemon gets method-not-found rather than silence`() {
        FakePeer { _, _ -> null }.use { peer ->
            peer.client.start()
            peer.send(com.google.gson.JsonParser.parseString("""{"jsonrpc":"2.0","id":"s1","method":"window/workDoneProgress/create","params":{}}""").asJsonObject)
            val deadline = System.currentTimeMillis() + 5000
            while (System.currentTimeMillis() < deadline) {
                val m = peer.seen.poll(100, TimeUnit.MILLISECONDS) ?: continue
                if (m.get("id")?.asString == "s1") {
                    assertEquals(ErrorCodes.METHOD_NOT_FOUND, m.getAsJsonObject("error").get("code").asInt)
                    return
                }
            }
            throw AssertionError("no answer to the daemon's request")
        }
    }
}
