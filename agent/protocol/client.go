package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// ClientOptions configure NewClient.
type ClientOptions struct {
	// Token is the session secret the agent was started with (by hash).
	Token string
	// Name identifies the client in the agent's log ("mirrord-cli/0.1.0").
	Name string
	// Heartbeat overrides KeepAlive (tests use short ones).
	Heartbeat time.Duration
	// OnStream serves streams the agent opens (incoming connections). When
	// nil they are refused.
	OnStream func(StreamHeader, *AgentStream)
	// OnEvent receives agent events; those it does not handle (false, or
	// no OnEvent) are logged.
	OnEvent func(Kind, []byte) bool
	Logger  *slog.Logger
}

// Client is the client end of an agent session. It is safe for concurrent
// use. Its goroutines end when the session ends (Close, the agent going
// away, or a missed heartbeat); Done reports that.
type Client struct {
	sess    *yamux.Session
	ctl     net.Conn
	opts    ClientOptions
	version uint16
	agent   string
	log     *slog.Logger

	wmu     sync.Mutex // serializes control-stream writes
	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan Envelope
	err     error
	done    chan struct{}
	wg      sync.WaitGroup
}

// NewClient performs the handshake on conn, starts yamux over it and opens
// the control stream. On error conn is closed.
func NewClient(ctx context.Context, conn io.ReadWriteCloser, opts ClientOptions) (*Client, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	var w Welcome
	err := withDeadline(ctx, conn, func() error {
		if err := WriteFrame(conn, Hello{Versions: Versions, Token: opts.Token, Client: opts.Name}); err != nil {
			return fmt.Errorf("sending hello: %w", err)
		}
		if err := ReadFrame(conn, &w); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("the agent closed the connection during the handshake: %w", err)
			}
			return fmt.Errorf("reading welcome: %w", err)
		}
		return nil
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("agent handshake: %w", err)
	}
	if w.Error != "" {
		conn.Close()
		return nil, fmt.Errorf("%w: %s", ErrRefused, w.Error)
	}
	sess, err := yamux.Client(coalesce(conn), yamuxConfig(opts.Heartbeat))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("starting yamux: %w", err)
	}
	ctl, err := sess.OpenStream()
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("opening the control stream: %w", err)
	}
	c := &Client{
		sess: sess, ctl: ctl, opts: opts, version: w.Version, agent: w.Agent, log: log,
		pending: map[uint64]chan Envelope{}, done: make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.acceptLoop()
	return c, nil
}

// Version is the settled protocol version; Agent the agent's self-description.
func (c *Client) Version() uint16 { return c.version }

// Agent is the agent's name and version from the handshake.
func (c *Client) Agent() string { return c.agent }

// Done is closed when the session has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is why the session ended (nil while it runs or after Close).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the session and waits for the client's goroutines.
func (c *Client) Close() error {
	c.fail(nil)
	err := c.sess.Close()
	c.wg.Wait()
	return err
}

// fail records the first reason the session ended and wakes every caller.
func (c *Client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.done:
		return
	default:
	}
	c.err = err
	close(c.done)
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

func (c *Client) readLoop() {
	defer c.wg.Done()
	for {
		var env Envelope
		if err := ReadFrame(c.ctl, &env); err != nil {
			if errors.Is(err, yamux.ErrKeepAliveTimeout) || c.sess.IsClosed() {
				// Prefer the session's reason: it says "keepalive timeout".
				err = sessionErr(c.sess, err)
			}
			c.fail(fmt.Errorf("agent connection lost: %w", err))
			c.sess.Close()
			return
		}
		if env.ID == 0 {
			if c.opts.OnEvent == nil || !c.opts.OnEvent(env.Kind, env.Body) {
				c.logEvent(env)
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[env.ID]
		delete(c.pending, env.ID)
		c.mu.Unlock()
		if ch != nil {
			ch <- env
		}
	}
}

func sessionErr(s *yamux.Session, err error) error {
	select {
	case <-s.CloseChan():
	default:
		return err
	}
	if errors.Is(err, io.EOF) {
		return errors.New("the agent closed the connection")
	}
	return err
}

func (c *Client) logEvent(env Envelope) {
	if env.Kind == EventLog {
		var ev LogEvent
		if Unmarshal(env.Body, &ev) == nil {
			c.log.Info("agent: "+ev.Msg, "level", ev.Level)
			return
		}
	}
	c.log.Debug("agent event", "kind", env.Kind)
}

func (c *Client) acceptLoop() {
	defer c.wg.Done()
	for {
		st, err := c.sess.AcceptStream()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.serveStream(st)
		}()
	}
}

func (c *Client) serveStream(st *yamux.Stream) {
	_ = st.SetReadDeadline(time.Now().Add(WriteTimeout))
	var h StreamHeader
	if err := ReadFrame(st, &h); err != nil {
		st.Close()
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	if c.opts.OnStream == nil {
		_ = WriteFrame(st, StreamReply{Err: Errorf(CodeUnsupported, "client does not accept %s streams", h.Kind)})
		st.Close()
		return
	}
	c.opts.OnStream(h, &AgentStream{Conn: Stream{st}})
}

// AgentStream is a stream the agent opened. The receiver must Accept or
// Refuse it.
type AgentStream struct {
	net.Conn
}

// Accept tells the agent the stream is taken; it then carries data.
func (s *AgentStream) Accept() error { return WriteFrame(s.Conn, StreamReply{}) }

// Refuse tells the agent why the stream is not taken and closes it.
func (s *AgentStream) Refuse(e *Error) {
	_ = WriteFrame(s.Conn, StreamReply{Err: e})
	s.Conn.Close()
}

// Call sends a request and decodes the response into resp (nil to ignore).
func (c *Client) Call(ctx context.Context, kind Kind, req, resp any) error {
	body, err := Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", kind, err)
	}
	ch := make(chan Envelope, 1)
	c.mu.Lock()
	select {
	case <-c.done:
		err := c.err
		c.mu.Unlock()
		return c.endedErr(err)
	default:
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()

	c.wmu.Lock()
	err = WriteFrame(c.ctl, Envelope{ID: id, Kind: kind, Body: body})
	c.wmu.Unlock()
	if err != nil {
		c.forget(id)
		return fmt.Errorf("sending %s request: %w", kind, err)
	}
	select {
	case env, ok := <-ch:
		if !ok {
			return c.endedErr(c.Err())
		}
		if env.Err != nil {
			return env.Err
		}
		if resp == nil {
			return nil
		}
		if err := Unmarshal(env.Body, resp); err != nil {
			return fmt.Errorf("decoding %s response: %w", kind, err)
		}
		return nil
	case <-ctx.Done():
		c.forget(id)
		return fmt.Errorf("%s request: %w", kind, ctx.Err())
	}
}

func (c *Client) endedErr(err error) error {
	if err == nil {
		return errors.New("agent session closed")
	}
	return err
}

func (c *Client) forget(id uint64) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// Open opens a data stream. On success the returned conn carries the
// stream's data; the reply holds the agent-side addresses.
func (c *Client) Open(ctx context.Context, h StreamHeader) (net.Conn, StreamReply, error) {
	conn, r, err := openStream(ctx, c.sess, h)
	if err != nil && r.Err == nil {
		err = c.endedErr(fmt.Errorf("%s %s: %w", h.Kind, h.Addr, err))
	}
	return conn, r, err
}

// Info asks the agent what it is attached to.
func (c *Client) Info(ctx context.Context) (AgentInfo, error) {
	var r AgentInfo
	err := c.Call(ctx, KindInfo, InfoRequest{}, &r)
	return r, err
}

// Env fetches the target process's environment.
func (c *Client) Env(ctx context.Context) ([]EnvVar, error) {
	var r EnvResponse
	if err := c.Call(ctx, KindEnv, EnvRequest{}, &r); err != nil {
		return nil, err
	}
	return r.Vars, nil
}

// Lookup resolves name as the target would.
func (c *Client) Lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	var r LookupResponse
	if err := c.Call(ctx, KindLookup, LookupRequest{Name: name}, &r); err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(r.Addrs))
	for _, a := range r.Addrs {
		ip, err := netip.ParseAddr(a)
		if err != nil {
			return nil, fmt.Errorf("agent returned a bad address %q for %s: %w", a, name, err)
		}
		out = append(out, ip)
	}
	return out, nil
}

// DialTCP connects to addr (host:port) from the target's network namespace.
func (c *Client) DialTCP(ctx context.Context, addr string) (net.Conn, error) {
	conn, _, err := c.Open(ctx, StreamHeader{Kind: StreamTCP, Addr: addr})
	return conn, err
}

// DialUDP associates a UDP socket in the target's network namespace with
// addr. The returned conn is message-oriented: one Write is one datagram.
func (c *Client) DialUDP(ctx context.Context, addr string) (net.Conn, error) {
	conn, _, err := c.Open(ctx, StreamHeader{Kind: StreamUDP, Addr: addr})
	if err != nil {
		return nil, err
	}
	return NewDatagramConn(conn), nil
}
