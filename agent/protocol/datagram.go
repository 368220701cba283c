package protocol

import (
	"net"
	"sync"
)

// DatagramConn carries datagrams over a stream, one frame each, so a UDP
// association through the agent behaves like a connected UDP socket: one
// Write is one datagram and one Read returns one datagram (truncated to the
// buffer, as UDP does).
type DatagramConn struct {
	net.Conn
	wmu sync.Mutex
	rmu sync.Mutex
}

// NewDatagramConn wraps a stream.
func NewDatagramConn(c net.Conn) *DatagramConn { return &DatagramConn{Conn: c} }

// Write sends p as one datagram.
func (d *DatagramConn) Write(p []byte) (int, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if err := WriteRaw(d.Conn, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Read receives one datagram into p.
func (d *DatagramConn) Read(p []byte) (int, error) {
	d.rmu.Lock()
	defer d.rmu.Unlock()
	b, err := ReadRaw(d.Conn)
	if err != nil {
		return 0, err
	}
	return copy(p, b), nil
}
