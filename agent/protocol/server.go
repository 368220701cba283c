package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// Handler serves one agent session. Methods are called concurrently. A
// Handler that also implements io.Closer is closed once the session has
// ended and every request and stream of it has returned, so it can release
// open files and subscriptions.
type Handler interface {
	// Call answers a control request. body is the CBOR request; decode it
	// with Unmarshal. Return an *Error (or an error with an errno in its
	// chain) to fail the request.
	Call(ctx context.Context, kind Kind, body []byte) (any, error)
	// Stream serves a data stream the client opened. It must Accept or
	// Refuse it, and owns it until it returns.
	Stream(ctx context.Context, h StreamHeader, s *ClientStream)
}

// ServerOptions configure Serve.
type ServerOptions struct {
	TokenHash [32]byte
	// Agent names the agent and its version in Welcome.
	Agent string
	// Versions overrides Versions (tests of negotiation).
	Versions  []uint16
	Heartbeat time.Duration
	// HandshakeTimeout bounds the Hello; default 10 s.
	HandshakeTimeout time.Duration
	Logger           *slog.Logger
}

// ServerSession is the agent's view of one client session: handlers use it
// to push events and open streams to the client.
type ServerSession struct {
	sess *yamux.Session
	ctl  net.Conn
	wmu  sync.Mutex
}

// Notify sends an event to the client.
func (s *ServerSession) Notify(kind Kind, body any) error {
	b, err := Marshal(body)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return WriteFrame(s.ctl, Envelope{Kind: kind, Body: b})
}

// Open opens a stream to the client (incoming connections).
func (s *ServerSession) Open(ctx context.Context, h StreamHeader) (net.Conn, error) {
	conn, _, err := openStream(ctx, s.sess, h)
	return conn, err
}

// ClientStream is a stream opened by the client.
type ClientStream struct {
	net.Conn
	replied bool
}

// Accept sends a success reply with the agent-side addresses.
func (s *ClientStream) Accept(local, remote string) error {
	s.replied = true
	return WriteFrame(s.Conn, StreamReply{Local: local, Remote: remote})
}

// Refuse sends err as the reply and closes the stream.
func (s *ClientStream) Refuse(err error) {
	s.replied = true
	_ = WriteFrame(s.Conn, StreamReply{Err: ErrorOf(err)})
	s.Conn.Close()
}

// Serve runs one session on conn: the handshake, then requests and streams
// until the client goes away, a heartbeat is missed or ctx ends. newHandler
// is called once the client is authenticated. Serve closes conn.
func Serve(ctx context.Context, conn net.Conn, opts ServerOptions, newHandler func(*ServerSession) Handler) error {
	defer conn.Close()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	versions := opts.Versions
	if versions == nil {
		versions = Versions
	}
	hsTimeout := opts.HandshakeTimeout
	if hsTimeout == 0 {
		hsTimeout = 10 * time.Second
	}
	hctx, cancel := context.WithTimeout(ctx, hsTimeout)
	var hello Hello
	err := withDeadline(hctx, conn, func() error { return ReadFrame(conn, &hello) })
	cancel()
	if err != nil {
		return fmt.Errorf("reading hello: %w", err)
	}
	v, reason := checkHello(hello, opts.TokenHash, versions)
	if reason != "" {
		_ = WriteFrame(conn, Welcome{Agent: opts.Agent, Error: reason})
		return fmt.Errorf("refused client %q from %s: %s", hello.Client, conn.RemoteAddr(), reason)
	}
	if err := WriteFrame(conn, Welcome{Version: v, Agent: opts.Agent}); err != nil {
		return fmt.Errorf("sending welcome: %w", err)
	}
	log.Info("client connected", "client", hello.Client, "version", v)

	sess, err := yamux.Server(coalesce(conn), yamuxConfig(opts.Heartbeat))
	if err != nil {
		return fmt.Errorf("starting yamux: %w", err)
	}
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()

	ctl, err := sess.AcceptStream()
	if err != nil {
		if errors.Is(err, io.EOF) || sess.IsClosed() {
			return nil // the client left right after the handshake
		}
		return fmt.Errorf("waiting for the control stream: %w", err)
	}
	ss := &ServerSession{sess: sess, ctl: ctl}
	h := newHandler(ss)
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()

	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		if c, ok := h.(io.Closer); ok {
			_ = c.Close()
		}
	}()
	wg.Add(1)
	go func() { // streams; ends when the session closes
		defer wg.Done()
		for {
			st, err := sess.AcceptStream()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveClientStream(sctx, h, st)
			}()
		}
	}()

	for {
		var env Envelope
		if err := ReadFrame(ctl, &env); err != nil {
			scancel()
			sess.Close()
			if errors.Is(err, io.EOF) || sess.IsClosed() {
				return sessionEnd(sess, err)
			}
			return fmt.Errorf("control stream: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := Envelope{ID: env.ID, Kind: env.Kind, Reply: true}
			out, err := h.Call(sctx, env.Kind, env.Body)
			if err == nil {
				if resp.Body, err = Marshal(out); err != nil {
					err = fmt.Errorf("encoding %s response: %w", env.Kind, err)
				}
			}
			if err != nil {
				resp.Body, resp.Err = nil, ErrorOf(err)
			}
			ss.wmu.Lock()
			_ = WriteFrame(ctl, resp)
			ss.wmu.Unlock()
		}()
	}
}

// sessionEnd is nil for a client that went away normally and the yamux
// reason otherwise (a missed heartbeat).
func sessionEnd(sess *yamux.Session, err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	if errors.Is(err, yamux.ErrKeepAliveTimeout) {
		return fmt.Errorf("client missed its heartbeats: %w", err)
	}
	return nil
}

func serveClientStream(ctx context.Context, h Handler, st *yamux.Stream) {
	_ = st.SetReadDeadline(time.Now().Add(WriteTimeout))
	var hdr StreamHeader
	if err := ReadFrame(st, &hdr); err != nil {
		st.Close()
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	cs := &ClientStream{Conn: Stream{st}}
	h.Stream(ctx, hdr, cs)
	if !cs.replied {
		cs.Refuse(Errorf(CodeUnsupported, "agent does not serve %s streams", hdr.Kind))
	}
}
