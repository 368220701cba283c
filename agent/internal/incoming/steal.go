//go:build linux

package incoming

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/incoming/capture"
	"github.com/mirrord-go/mirrord/agent/internal/incoming/httpsteal"
	"github.com/mirrord-go/mirrord/agent/protocol"
)

// streamOpenTimeout bounds the opening of a stream to a client: a client
// that died without closing its session (its heartbeat has not failed
// yet) must not hold the pod's traffic; the connection or request then
// goes to the pod's app. Streams open in one round trip normally.
const streamOpenTimeout = 3 * time.Second

// acceptLoop serves the connections the capture redirects to ln until ln
// is closed.
func (m *Manager) acceptLoop(ln net.Listener) {
	defer m.wg.Done()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// EMFILE and the like: back off instead of spinning.
			m.log.Warn("accepting a stolen connection", "err", err)
			select {
			case <-m.ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.serveStolen(conn.(*net.TCPConn))
		}()
	}
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }

// serveStolen hands one redirected connection to its subscription, or to
// the app in the pod when nobody takes it.
func (m *Manager) serveStolen(conn *net.TCPConn) {
	defer conn.Close()
	stop := context.AfterFunc(m.ctx, func() { conn.Close() })
	defer stop()
	orig, err := capture.OriginalDst(conn)
	if err != nil {
		m.log.Warn("a redirected connection without its original destination", "err", err)
		return
	}
	orig = unmap(orig)
	peer := unmap(conn.RemoteAddr().(*net.TCPAddr).AddrPort())
	log := m.log.With("peer", peer, "port", orig.Port())
	p := m.snapshot(orig.Port())
	switch {
	case p.steal != nil:
		ctx, cancel := context.WithTimeout(m.ctx, streamOpenTimeout)
		st, err := p.steal.client.Open(ctx, p.steal.header(peer, orig))
		cancel()
		if err != nil {
			log.Debug("the client did not take the connection; the pod's app serves it", "err", err)
			m.passthrough(conn, orig)
			return
		}
		_ = protocol.Pipe(conn, st)
	case len(p.filtered) > 0:
		m.serveFiltered(conn, peer, orig)
	default:
		// Redirected just before its port was given back.
		m.passthrough(conn, orig)
	}
}

// passthrough splices conn to the app in the pod.
func (m *Manager) passthrough(conn *net.TCPConn, orig netip.AddrPort) {
	up, err := m.dialOriginal(m.ctx, orig)
	if err != nil {
		m.log.Warn("passing a connection through", "err", err)
		return
	}
	_ = protocol.Pipe(conn, up)
}

// serveFiltered routes each HTTP request of conn to the first filtered
// subscription of its port that matches it, else to the app in the pod.
// The destinations are this connection's own, so that the client's
// program sees this connection's peer, and a keep-alive client keeps its
// requests on one connection at each end.
func (m *Manager) serveFiltered(conn *net.TCPConn, peer, orig netip.AddrPort) {
	original := httpsteal.NewDestination("the pod's app "+orig.String(), func(ctx context.Context) (net.Conn, error) {
		return m.dialOriginal(ctx, orig)
	})
	defer original.CloseIdle()
	local := map[uint64]*httpsteal.Destination{}
	defer func() {
		for _, d := range local {
			d.CloseIdle()
		}
	}()
	// Pick runs concurrently for h2 streams; only the map needs the
	// lock, not the (possibly slow) matching.
	var mu sync.Mutex
	pick := func(r *http.Request) *httpsteal.Destination {
		// Read at each request: a subscription that ended sends the
		// connection's next requests to the pod.
		for _, s := range m.snapshot(orig.Port()).filtered {
			if !s.matcher.Match(r) {
				continue
			}
			mu.Lock()
			defer mu.Unlock()
			if d := local[s.id]; d != nil {
				return d
			}
			s := s
			d := httpsteal.NewDestination("session port "+orig.String(), func(ctx context.Context) (net.Conn, error) {
				ctx, cancel := context.WithTimeout(ctx, streamOpenTimeout)
				defer cancel()
				return s.client.Open(ctx, s.header(peer, orig))
			})
			local[s.id] = d
			return d
		}
		return nil
	}
	err := httpsteal.Serve(m.ctx, conn, httpsteal.Options{
		Original:      original,
		Pick:          pick,
		DetectTimeout: m.o.DetectTimeout,
		Log:           m.log,
		Drain:         m.drain,
	})
	if err != nil && m.ctx.Err() == nil {
		m.log.Debug("filtered connection", "peer", peer, "err", err)
	}
}
