// Package protocol is the one definition of how a mirrord client (the CLI,
// the daemon's session runner, the layer) talks to the in-cluster agent.
// Both ends import it and nothing else of ours, so the wire format cannot
// drift between them.
//
// A session is one byte stream, in practice a client-go port-forward to the
// agent's 127.0.0.1 listener:
//
//  1. Handshake, on the raw stream: the client sends Hello (the protocol
//     versions it speaks and the session token), the agent answers Welcome
//     (the settled version) or refuses and closes.
//  2. The stream then carries a yamux session (github.com/hashicorp/yamux).
//     yamux's keepalive pings are the heartbeats: a dead peer is noticed
//     within KeepAliveInterval+ConnectionWriteTimeout.
//  3. The first stream the client opens is the control stream. It carries
//     Envelopes: requests with an id, their responses, and agent events.
//  4. Every TCP flow, UDP association and incoming connection is a stream of
//     its own. It starts with a StreamHeader frame and a StreamReply frame,
//     then carries the raw bytes (TCP) or framed datagrams (UDP), so both
//     ends see a plain net.Conn.
//
// Frames are a 4-byte big-endian length followed by a CBOR body
// (github.com/fxamacker/cbor/v2): compact, binary-safe for file data, and
// self-describing enough that unknown fields are ignored, which is what
// lets a newer agent serve an older client.
package protocol
