package dev.mirrordgo.core.rpc

import java.io.ByteArrayOutputStream
import java.io.EOFException
import java.io.IOException
import java.io.InputStream
import java.io.OutputStream

/**
 * LSP base-protocol framing: `Content-Length: N\r\n\r\n` then N bytes of
 * UTF-8 JSON. The daemon speaks exactly this (it doubles as the config
 * language server), so one reader serves both uses.
 */
object Framing {
    private const val HEADER = "Content-Length:"

    /** Writes one message; the header and body go out in one write so a bridge never sees half a frame. */
    fun write(out: OutputStream, json: String) {
        val body = json.toByteArray(Charsets.UTF_8)
        val head = "Content-Length: ${body.size}\r\n\r\n".toByteArray(Charsets.US_ASCII)
        val frame = ByteArray(head.size + body.size)
        System.arraycopy(head, 0, frame, 0, head.size)
        System.arraycopy(body, 0, frame, head.size, body.size)
        out.write(frame)
        out.flush()
    }

    /** Reads one message; null at a clean end of stream (between frames). */
    fun read(input: InputStream): String? {
        var length = -1
        var sawHeader = false
        while (true) {
            val line = readLine(input, sawHeader) ?: return null
            if (line.isEmpty()) {
                if (length < 0) throw IOException("frame without Content-Length")
                break
            }
            sawHeader = true
            // Other headers (Content-Type) are allowed by the LSP and ignored.
            if (line.regionMatches(0, HEADER, 0, HEADER.length, ignoreCase = true)) {
                length = line.substring(HEADER.length).trim().toIntOrNull()
                    ?: throw IOException("bad Content-Length header: $line")
            }
        }
        val body = input.readNBytes(length)
        if (body.size != length) throw EOFException("stream ended inside a $length-byte frame")
        return String(body, Charsets.UTF_8)
    }

    /** One header line without its CRLF; null when the stream ends before any byte of a frame. */
    private fun readLine(input: InputStream, inFrame: Boolean): String? {
        val buf = ByteArrayOutputStream()
        while (true) {
            val b = input.read()
            if (b < 0) {
                if (buf.size() == 0 && !inFrame) return null
                throw EOFException("stream ended inside a frame header")
            }
            if (b == '\n'.code) break
            buf.write(b)
        }
        return buf.toString(Charsets.US_ASCII).removeSuffix("\r")
    }
}
