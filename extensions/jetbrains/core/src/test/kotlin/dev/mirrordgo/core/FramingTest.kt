package dev.mirrordgo.core

import dev.mirrordgo.core.rpc.Framing
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.io.EOFException
import java.io.IOException
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Test
import kotlin.test.assertFailsWith

class FramingTest {
    @Test
    fun `frames round-trip, and the length counts UTF-8 bytes, not chars`() {
        val out = ByteArrayOutputStream()
        Framing.write(out, """{"a":"ü"}""")
        Framing.write(out, "{}")
        assertEquals("Content-Length: 10\r\n\r\n{\"a\":\"ü\"}", out.toString(Charsets.UTF_8).substringBefore("Content-Length: 2"))
        val input = ByteArrayInputStream(out.toByteArray())
        assertEquals("""{"a":"ü"}""", Framing.read(input))
        assertEquals("{}", Framing.read(input))
        assertNull(Framing.read(input), "a clean end between frames is null")
    }

    @Test
    fun `other headers are ignored and the header name is case-insensitive`() {
        val raw = "content-length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}"
        assertEquals("{}", Framing.read(ByteArrayInputStream(raw.toByteArray())))
    }

    @Test
    fun `broken frames are errors, not silent ends`() {
        assertFailsWith<EOFException> { Framing.read(ByteArrayInputStream("Content-Length: 5\r\n\r\n{}".toByteArray())) }
        assertFailsWith<EOFException> { Framing.read(ByteArrayInputStream("Content-Len".toByteArray())) }
        assertFailsWith<IOException> { Framing.read(ByteArrayInputStream("X: 1\r\n\r\n{}".toByteArray())) }
        assertFailsWith<IOException> { Framing.read(ByteArrayInputStream("Content-Length: x\r\n\r\n".toByteArray())) }
    }
}
