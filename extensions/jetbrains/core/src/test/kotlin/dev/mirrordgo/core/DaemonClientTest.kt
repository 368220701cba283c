package dev.mirrordgo.core

import dev.mirrordgo.core.daemon.DaemonClient
import dev.mirrordgo.core.rpc.RpcException
import dev.mirrordgo.gen.InitializeResult
import dev.mirrordgo.gen.PROTOCOL_VERSION
import dev.mirrordgo.gen.ProgressParams
import dev.mirrordgo.gen.ProgressValue
import dev.mirrordgo.gen.SessionsStartParams
import dev.mirrordgo.gen.SessionsStartResult
import dev.mirrordgo.gen.UpdatePolicy
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import kotlin.test.assertFailsWith

class DaemonClientTest {
    @Test
    fun `initialize is the first call and carries the client, protocol and update policy`() {
        FakePeer { method, _ -> if (method == "initialize") InitializeResult(version = "0.1.0", protocolVersion = PROTOCOL_VERSION) else null }.use { peer ->
            val d = DaemonClient.handshake(peer.client.start(), null, "9.9.9", UpdatePolicy(autoUpdate = "0.3.1"))
            assertEquals("0.1.0", d.info.version)
            val first = peer.seen.take()
            assertEquals("initialize", first.get("method").asString)
            val p = first.getAsJsonObject("params")
            assertEquals("mirrord-jetbrains", p.getAsJsonObject("clientInfo").get("name").asString)
            assertEquals(PROTOCOL_VERSION, p.get("protocolVersion").asInt)
            assertEquals("0.3.1", p.getAsJsonObject("initializationOptions").getAsJsonObject("update").get("autoUpdate").asString)
            assertEquals("initialized", peer.seen.take().get("method").asString)
        }
    }

    @Test
    fun `another protocol version is refused with the fix`() {
        FakePeer { _, _ -> InitializeResult(protocolVersion = PROTOCOL_VERSION + 1) }.use { peer ->
            val e = assertFailsWith<RpcException> { DaemonClient.handshake(peer.client.start(), null, "1") }
            assertTrue(e.message!!.contains("update the plugin"), e.message)
        }
    }

    @Test
    fun `a session start sees its own progress only, under a token it chose`() {
        lateinit var peerRef: FakePeer
        val peer = FakePeer { method, params ->
            when (method) {
                "initialize" -> InitializeResult(protocolVersion = PROTOCOL_VERSION)
                "sessions/start" -> {
                    val token = params!!.asJsonObject.get("workDoneToken").asString
                    peerRef.notifyClient("\$/progress", ProgressParams("someone-else", ProgressValue("report", message = "not ours")))
                    peerRef.notifyClient("\$/progress", ProgressParams(token, ProgressValue("begin", title = "mirrord")))
                    peerRef.notifyClient("\$/progress", ProgressParams(token, ProgressValue("report", message = "creating agent Job x")))
                    Thread.sleep(100) // the notifications are read before the answer anyway; this only widens the window
                    SessionsStartResult(sessionId = "s1", target = "deployment/web")
                }
                else -> null
            }
        }
        peerRef = peer
        peer.use {
            val d = DaemonClient.handshake(peer.client.start(), null, "1")
            val seen = mutableListOf<String>()
            val r = d.startSession(SessionsStartParams(target = "deploy/web")) { synchronized(seen) { seen += it } }
            assertEquals("s1", r.sessionId)
            assertEquals(listOf("mirrord", "creating agent Job x"), synchronized(seen) { seen.toList() })
        }
    }

    @Test
    fun `a binary that cannot run is an error naming the setting`() {
        val e = assertFailsWith<RpcException> { DaemonClient.connect("/nonexistent/mirrord", emptyMap(), "1") }
        assertTrue(e.message!!.contains("binary path"), e.message)
    }

    @Test
    fun `a bridge that exits at once reports its stderr`() {
        val e = assertFailsWith<RpcException> { DaemonClient.connect("/bin/sh", mapOf("PATH" to "/usr/bin:/bin"), "1") }
        // "/bin/sh daemon connect" fails: sh cannot open a script named daemon.
        assertTrue(e.message!!.contains("daemon"), e.message)
        assertEquals(RpcException.CONNECTION_CLOSED, e.code)
    }
}
