//go:build linux

package incoming

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/incoming/sniff"
)

// mirrorDrain bounds how long a copy's stream stays open after the client's
// side of the connection ended, for the developer's program to finish its
// (discarded) answer; past it the stream is closed.
const mirrorDrain = 30 * time.Second

// mirrorHandler is the sniffer's Handler: one copy per mirroring
// subscription of the port, each on its own stream, opened at the first
// bytes (the handler itself must not block).
func (m *Manager) mirrorHandler(c sniff.Conn) io.WriteCloser {
	subs := m.snapshot(c.Local.Port()).mirror
	if len(subs) == 0 {
		return nil
	}
	copies := make([]*mirrorCopy, len(subs))
	for i, s := range subs {
		copies[i] = &mirrorCopy{m: m, s: s, c: c}
	}
	if len(copies) == 1 {
		return copies[0]
	}
	return multiCopy(copies)
}

// mirrorCopy writes one connection's client bytes to one subscription. The
// program's answers are read and dropped: the pod's app answers the real
// client.
type mirrorCopy struct {
	m *Manager
	s *sub
	c sniff.Conn

	mu     sync.Mutex
	st     net.Conn
	failed bool
	closed bool
}

func (w *mirrorCopy) stream() net.Conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.st != nil || w.failed || w.closed {
		return w.st
	}
	ctx, cancel := context.WithTimeout(w.m.ctx, streamOpenTimeout)
	defer cancel()
	st, err := w.s.client.Open(ctx, w.s.header(unmap(w.c.Peer), unmap(w.c.Local)))
	if err != nil {
		w.failed = true
		w.m.log.Debug("the client did not take a mirrored connection", "port", w.s.port, "err", err)
		return nil
	}
	w.st = st
	w.m.wg.Add(1)
	go func() { // drop the program's answers until the stream ends
		defer w.m.wg.Done()
		stop := context.AfterFunc(w.m.ctx, func() { st.Close() })
		defer stop()
		_, _ = io.Copy(io.Discard, st)
		st.Close()
	}()
	return st
}

// Write sends bytes to the developer's program. A copy nobody takes
// swallows its bytes: the sniffer must not see an error for a consumer
// that simply is not there.
func (w *mirrorCopy) Write(p []byte) (int, error) {
	st := w.stream()
	if st == nil {
		w.mu.Lock()
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return 0, net.ErrClosed
		}
		return len(p), nil
	}
	return st.Write(p)
}

// Close half-closes the stream (the program sees the client's EOF and may
// finish), and closes it for good after mirrorDrain. Called while a Write
// is blocked, it aborts the stream at once.
func (w *mirrorCopy) Close() error {
	w.mu.Lock() // held by stream() while it opens (bounded)
	w.closed = true
	st := w.st
	w.mu.Unlock()
	if st == nil {
		return nil
	}
	if cw, ok := st.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = st.SetDeadline(time.Now().Add(mirrorDrain))
		return nil
	}
	return st.Close()
}

// multiCopy feeds several subscriptions; one that fails does not stop the
// others.
type multiCopy []*mirrorCopy

func (mc multiCopy) Write(p []byte) (int, error) {
	ok := false
	for _, w := range mc {
		if _, err := w.Write(p); err == nil {
			ok = true
		}
	}
	if !ok {
		return 0, errors.New("every mirror copy failed")
	}
	return len(p), nil
}

func (mc multiCopy) Close() error {
	for _, w := range mc {
		_ = w.Close()
	}
	return nil
}
