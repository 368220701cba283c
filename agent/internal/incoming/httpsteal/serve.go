// Package httpsteal is the agent's HTTP-filtered steal: it takes over one
// connection that a client sent to a port of the target pod and decides,
// request by request, whether each request goes to the developer's local
// app or to the original app in the pod.
//
// It exists because a filtered steal cannot work at the connection level.
// Clients keep connections alive and multiplex HTTP/2 streams, so one
// connection carries requests for both sides; the agent therefore has to
// terminate HTTP itself, route each request (Pick, typically a Matcher
// per subscription) and proxy it with a connection pool per side
// (Destination). Anything that is not HTTP is spliced to the original app
// untouched, so stealing a port with a filter never breaks other
// protocols on it.
//
// What is proxied follows upstream mirrord: HTTP/1.x with keep-alive,
// Upgrade (websocket and the like, spliced after the 101), h2c by prior
// knowledge and by Upgrade: h2c, gRPC (trailers, streaming). If the local
// app cannot be reached, a request that was routed to it goes to the
// original app instead, so a developer stopping their app loses no
// requests.
package httpsteal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// Options configures Serve.
type Options struct {
	// Original is the app in the pod. Required.
	Original *Destination
	// Pick routes one request; nil (or a nil result) means Original. It
	// sees the request line and headers and must not read the body. It
	// runs concurrently for the streams of an HTTP/2 connection.
	Pick func(r *http.Request) *Destination
	// DetectTimeout is how long to wait for the client's first bytes
	// before deciding the connection is not HTTP (a protocol where the
	// server speaks first) and splicing it to Original. Default 2s.
	DetectTimeout time.Duration
	// Log receives per-connection diagnostics. Default slog.Default().
	Log *slog.Logger
	// Drain, when closed, ends an HTTP/1 connection gracefully: the
	// requests in flight finish and are answered with Connection: close,
	// and an idle keep-alive connection is closed, so a client never has
	// a request cut after it was delivered (which it would retry, and the
	// app would get twice). nil never drains; cancelling ctx still cuts.
	Drain <-chan struct{}
}

// defaultDetectTimeout: long enough for a slow client on a loaded node to
// send its request line, short enough that a server-speaks-first protocol
// (SMTP, MySQL) only sees a short delay before its greeting.
const defaultDetectTimeout = 2 * time.Second

// detectBuffer is how many bytes detection may buffer: it bounds the
// request line that is checked in full.
const detectBuffer = 8 << 10

// Serve takes ownership of conn, a connection a client sent to the
// target's port, and serves it until the client is done or ctx is
// cancelled. conn is closed when Serve returns, and every goroutine Serve
// started has ended by then (pooled connections to destinations stay
// with their Destination).
//
// The error is about the connection as a whole (it could not be read, or
// the original app could not be reached for a raw connection); failures
// of single requests are answered to the client and logged.
func Serve(ctx context.Context, conn net.Conn, opts Options) error {
	defer conn.Close()
	if opts.Original == nil {
		return errors.New("httpsteal: Options.Original is required")
	}
	if opts.DetectTimeout <= 0 {
		opts.DetectTimeout = defaultDetectTimeout
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	log := opts.Log.With("remote", conn.RemoteAddr().String())

	// Cancelling ctx closes conn, which unblocks every read and write of
	// every protocol below; each of them then winds down on its own.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	p, pre, err := detect(conn, opts.DetectTimeout)
	if err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("httpsteal: read the first bytes of %s: %w", conn.RemoteAddr(), err)
	}
	log.Debug("stolen connection", "protocol", p.String())

	s := newSession(ctx, opts, log)
	switch p {
	case protoHTTP1:
		s.serveHTTP1(&prefixConn{Conn: conn, pre: pre})
	case protoH2:
		s.serveH2(&prefixConn{Conn: conn, pre: pre})
	default:
		err = s.serveRaw(conn, pre)
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

// detect reads until classify decides, the buffer is full, the client
// stops sending for timeout, or the client half-closes. It returns the
// bytes read, which belong to the connection's stream.
func detect(conn net.Conn, timeout time.Duration) (proto, []byte, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return 0, nil, fmt.Errorf("set read deadline: %w", err)
	}
	br := bufio.NewReaderSize(conn, detectBuffer)
	p := protoUnknown
	for p == protoUnknown {
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			switch {
			case errors.Is(err, bufio.ErrBufferFull):
				p = protoHTTP1 // a request line longer than the buffer
			case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, io.EOF):
				p = protoRaw
			default:
				return 0, nil, err
			}
			break
		}
		buf, _ := br.Peek(br.Buffered())
		p = classify(buf)
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return 0, nil, fmt.Errorf("clear read deadline: %w", err)
	}
	// Nothing reads br after this, so its buffer can be handed on as is.
	pre, _ := br.Peek(br.Buffered())
	return p, pre, nil
}

// prefixConn replays the bytes detection read before reading from the
// connection itself (directly, so net/http's own buffering is the only
// one).
type prefixConn struct {
	net.Conn
	mu  sync.Mutex
	pre []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		c.mu.Unlock()
		return n, nil
	}
	c.mu.Unlock()
	return c.Conn.Read(p)
}

// CloseWrite half-closes when the underlying connection can.
func (c *prefixConn) CloseWrite() error { return closeWrite(c.Conn) }

func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// serveRaw splices a connection that is not HTTP to the original app.
// Nothing of it reaches a local app.
func (s *session) serveRaw(conn net.Conn, pre []byte) error {
	up, err := s.opts.Original.dialConn(s.ctx)
	if err != nil {
		return fmt.Errorf("httpsteal: raw connection: %w", err)
	}
	defer up.Close()
	stop := context.AfterFunc(s.ctx, func() { up.Close() })
	defer stop()
	if len(pre) > 0 {
		if _, err := up.Write(pre); err != nil {
			return fmt.Errorf("httpsteal: raw connection: write to %s: %w", s.opts.Original.name, err)
		}
	}
	_ = protocol.Pipe(conn, up) // a raw connection's end is not an error
	return nil
}

// tracker counts running handlers so that Serve can wait for them. Unlike
// a WaitGroup it tolerates handlers that start while the wait is on: the
// HTTP/2 server starts stream handlers from goroutines of its own, and
// after an h2c upgrade they start inside the upgrading handler. Only once
// the count has dropped to zero are new handlers refused.
type tracker struct {
	mu      sync.Mutex
	n       int
	closing bool
	done    bool
	zero    chan struct{}
}

func newTracker() *tracker { return &tracker{zero: make(chan struct{})} }

func (t *tracker) enter() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return false
	}
	t.n++
	return true
}

func (t *tracker) leave() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n--
	t.finishLocked()
}

func (t *tracker) finishLocked() {
	if t.n == 0 && t.closing && !t.done {
		t.done = true
		close(t.zero)
	}
}

// closeAndWait waits until no handler runs, then refuses new ones.
func (t *tracker) closeAndWait() {
	t.mu.Lock()
	t.closing = true
	t.finishLocked()
	t.mu.Unlock()
	<-t.zero
}

// oneConnListener hands one connection to http.Server.Serve, then blocks
// Accept until closed.
type oneConnListener struct {
	conns     chan net.Conn
	addr      net.Addr
	done      chan struct{}
	closeOnce sync.Once
}

func newOneConnListener(c net.Conn) *oneConnListener {
	l := &oneConnListener{conns: make(chan net.Conn, 1), addr: c.LocalAddr(), done: make(chan struct{})}
	l.conns <- c
	return l
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *oneConnListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return l.addr }
