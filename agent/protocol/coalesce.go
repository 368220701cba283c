package protocol

import (
	"encoding/binary"
	"io"
	"net"
)

// yamux (v0.1.x) writes every data frame as two writes, its 12-byte header
// and then the body. Over the API server's port-forward each write becomes
// its own message through the API server and the kubelet, which doubles
// the per-frame cost of small frames (an HTTP request or answer is one).
// coalescedConn holds a data frame's header until its body is written and
// sends both in one write. yamux's send loop is the only writer, so no
// locking is needed.
type coalescedConn struct {
	io.ReadWriteCloser
	hdr [yamuxHeaderSize]byte
	// held says hdr waits for its body.
	held bool
	buf  []byte
}

// The yamux v0 frame header: version, type, flags (2), stream ID (4),
// length (4); type 0 is a data frame.
const (
	yamuxHeaderSize = 12
	yamuxTypeData   = 0
)

func coalesce(c io.ReadWriteCloser) io.ReadWriteCloser {
	cc := &coalescedConn{ReadWriteCloser: c}
	if a, ok := c.(addressed); ok {
		// yamux gives its streams the addresses of a conn that has them.
		return &coalescedAddrConn{coalescedConn: cc, addressed: a}
	}
	return cc
}

type addressed interface {
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

type coalescedAddrConn struct {
	*coalescedConn
	addressed
}

func (c *coalescedConn) Write(p []byte) (int, error) {
	if !c.held && len(p) == yamuxHeaderSize && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:12]) > 0 {
		copy(c.hdr[:], p)
		c.held = true
		return len(p), nil
	}
	if !c.held {
		return c.ReadWriteCloser.Write(p)
	}
	c.held = false
	c.buf = append(append(c.buf[:0], c.hdr[:]...), p...)
	n, err := c.ReadWriteCloser.Write(c.buf)
	n -= yamuxHeaderSize
	if n < 0 {
		n = 0
	}
	return n, err
}
