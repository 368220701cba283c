//go:build linux

package handler

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/protocol"
)

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// dial connects to the first address of addr that answers, from the
// target's network namespace, trying them in order as getaddrinfo's
// caller would.
func (a *Agent) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	timeout := a.ConnectTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addrs, err := a.resolve(ctx, addr)
	if err != nil {
		return nil, err
	}
	d := nsenter.Dialer{NS: a.Net}
	var first error
	for _, ip := range addrs {
		conn, err := d.Dial(ctx, network, ip)
		if err == nil {
			return conn, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// serveTCP connects to addr and relays bytes until both directions end.
func (a *Agent) serveTCP(ctx context.Context, addr string, st *protocol.ClientStream) {
	conn, err := a.dial(ctx, "tcp", addr)
	if err != nil {
		a.Log.Debug("outgoing TCP refused", "addr", addr, "err", err)
		st.Refuse(err)
		return
	}
	if err := st.Accept(conn.LocalAddr().String(), conn.RemoteAddr().String()); err != nil {
		conn.Close()
		st.Close()
		return
	}
	a.Log.Debug("outgoing TCP", "addr", addr, "local", conn.LocalAddr(), "remote", conn.RemoteAddr())
	// st.Conn, not st: protocol.Stream's CloseWrite passes half-closes on.
	if err := protocol.Pipe(st.Conn, conn); err != nil {
		a.Log.Debug("outgoing TCP ended", "addr", addr, "err", err)
	}
}

// serveUDP relays datagrams between the stream (one frame each) and a UDP
// socket connected to addr, until either side closes.
func (a *Agent) serveUDP(ctx context.Context, addr string, st *protocol.ClientStream) {
	conn, err := a.dial(ctx, "udp", addr)
	if err != nil {
		a.Log.Debug("outgoing UDP refused", "addr", addr, "err", err)
		st.Refuse(err)
		return
	}
	if err := st.Accept(conn.LocalAddr().String(), conn.RemoteAddr().String()); err != nil {
		conn.Close()
		st.Close()
		return
	}
	a.Log.Debug("outgoing UDP", "addr", addr, "local", conn.LocalAddr(), "remote", conn.RemoteAddr())
	relayDatagrams(protocol.NewDatagramConn(st.Conn), conn)
}

// relayDatagrams copies datagrams both ways; when one direction ends both
// conns are closed, which ends the other.
func relayDatagrams(stream, udp net.Conn) {
	var wg sync.WaitGroup
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stream.Close()
			udp.Close()
		})
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer stop()
		buf := make([]byte, maxDatagram)
		for {
			n, err := stream.Read(buf)
			if err != nil {
				return
			}
			// A send error (no route, a full buffer) loses this datagram,
			// as it would in the pod; the association stays.
			_, _ = udp.Write(buf[:n])
		}
	}()
	go func() {
		defer wg.Done()
		defer stop()
		buf := make([]byte, maxDatagram)
		for {
			n, err := udp.Read(buf)
			if err != nil {
				// An ICMP error from an earlier send surfaces here on a
				// connected socket; it does not end the association.
				if errors.Is(err, syscall.ECONNREFUSED) {
					continue
				}
				return
			}
			if _, err := stream.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	wg.Wait()
}
