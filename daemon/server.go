// Package daemon is the per-user control plane behind the IDE plugins and
// `mirrord ls`: one long-lived process per user and build that answers
// JSON-RPC (LSP framing) on a unix socket. It serves target lists from
// warm informers, config discovery, resolution and validation, the config
// language features, binary updates and session runners, so the plugins
// stay thin and share one implementation.
//
// The method names and types are defined once in daemon/api; the Go client
// is daemon/client. Run starts a daemon on its socket; Server.ServeConn
// serves one connection (the tests drive it over pipes).
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sourcegraph/jsonrpc2"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/internal/targets"
	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// Options configure a Server. The zero value works: no idle exit, real
// clusters, real config discovery.
type Options struct {
	// Socket and LogFile are reported by daemon/status.
	Socket  string
	LogFile string
	// IdleTimeout ends Serve after this long with no client and no live
	// session; 0 means never.
	IdleTimeout time.Duration
	// NewKubeClient builds a cluster client from a config; nil means
	// kube.NewClient (tests inject a fake cluster).
	NewKubeClient func(*schema.Config) (*kube.Client, error)
	// TargetsDebounce groups informer events into one targets/changed;
	// 0 means 200 ms.
	TargetsDebounce time.Duration
	// TargetsIdle stops a namespace's informers after this long with no
	// list; 0 means 10 minutes.
	TargetsIdle time.Duration
	// Env is the daemon's environment, for config resolution when a
	// client sends none; nil means os.LookupEnv.
	Env func(string) (string, bool)
	// Deps are the config, language and update services.
	Deps Deps
	// Sessions configures session runners.
	Sessions SessionOptions
}

// Server is the daemon. It is safe for concurrent use.
type Server struct {
	opts    Options
	started time.Time
	targets *targets.Cache
	lang    *langHost
	watches *watches
	updates *updates
	sess    *sessions

	mu       sync.Mutex
	conns    map[string]*conn
	nextID   int
	stopping bool
	// activity is poked whenever the number of clients or sessions
	// changes, so the idle loop re-evaluates.
	activity chan struct{}
	// stop ends Serve (daemon/stop); nil outside Serve.
	stop context.CancelFunc
	// connWG tracks the per-connection goroutines of Serve.
	connWG sync.WaitGroup
}

// New builds a Server.
func New(opts Options) *Server {
	if opts.Env == nil {
		opts.Env = os.LookupEnv
	}
	s := &Server{opts: opts, started: time.Now(), conns: map[string]*conn{}, activity: make(chan struct{}, 1)}
	s.targets = targets.New(targets.Options{NewClient: opts.NewKubeClient, Debounce: opts.TargetsDebounce, Idle: opts.TargetsIdle, Notify: s.targetsChanged})
	s.lang = s.opts.Deps.newLang(s.publishDiagnostics)
	s.watches = newWatches(s)
	s.updates = newUpdates(s)
	s.sess = newSessions(s, opts.Sessions)
	return s
}

func (s *Server) poke() {
	select {
	case s.activity <- struct{}{}:
	default:
	}
}

// active counts what keeps the daemon up.
func (s *Server) active() (clients, sessions int) {
	s.mu.Lock()
	clients = len(s.conns)
	s.mu.Unlock()
	return clients, s.sess.live()
}

// Serve accepts connections on ln until ctx is done, daemon/stop is
// called, or the idle timeout passes; then it ends every session and
// connection and returns. Peers of another uid are refused.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.stop = cancel
	s.mu.Unlock()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { s.targets.Run(gctx); return nil })
	g.Go(func() error { s.watches.run(gctx); return nil })
	g.Go(func() error { return s.idleLoop(gctx, cancel) })
	g.Go(func() error {
		<-gctx.Done()
		return ln.Close()
	})
	g.Go(func() error {
		for {
			nc, err := ln.Accept()
			if err != nil {
				if gctx.Err() != nil {
					return nil
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return fmt.Errorf("accepting daemon connections on %s: %w", s.opts.Socket, err)
			}
			if err := checkPeer(nc); err != nil {
				slog.Warn("refused a daemon connection", "reason", err.Error())
				nc.Close()
				continue
			}
			s.connWG.Add(1)
			go func() {
				defer s.connWG.Done()
				s.ServeConn(gctx, nc)
			}()
		}
	})
	err := g.Wait()
	s.shutdown()
	s.connWG.Wait()
	return err
}

// shutdown ends every session and closes every connection.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.stopping = true
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.sess.stopAll("the daemon is stopping")
	for _, c := range conns {
		c.close()
	}
	s.targets.Close()
	s.watches.close()
}

// Close ends every session, connection and cache of a Server used
// without Serve (ServeConn over pipes).
func (s *Server) Close() { s.shutdown() }

// idleLoop owns the idle timer: it runs while nothing is connected and no
// session lives, and stops the daemon when it fires.
func (s *Server) idleLoop(ctx context.Context, cancel context.CancelFunc) error {
	if s.opts.IdleTimeout <= 0 {
		<-ctx.Done()
		return nil
	}
	var timer *time.Timer
	var fire <-chan time.Time
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c, n := s.active()
		switch {
		case c+n == 0 && timer == nil:
			timer = time.NewTimer(s.opts.IdleTimeout)
			fire = timer.C
		case c+n > 0 && timer != nil:
			timer.Stop()
			timer, fire = nil, nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.activity:
		case <-fire:
			if c, n := s.active(); c+n == 0 {
				slog.Info("idle: no client and no session, exiting", "idle_timeout", s.opts.IdleTimeout)
				cancel()
				return nil
			}
			timer, fire = nil, nil
		}
	}
}

// checkPeer refuses a peer whose uid is not ours. The socket directory is
// already private; this also covers a socket placed where others can reach
// it.
func checkPeer(nc net.Conn) error {
	uc, ok := nc.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return fmt.Errorf("reading the peer's credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return fmt.Errorf("reading the peer's credentials: %w", err)
	}
	if cerr != nil {
		return fmt.Errorf("reading the peer's credentials (SO_PEERCRED): %w", cerr)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("peer pid %d runs as uid %d, not as the daemon's uid %d", cred.Pid, cred.Uid, os.Getuid())
	}
	return nil
}

// conn is one client connection.
type conn struct {
	id    string
	s     *Server
	rpc   *jsonrpc2.Conn
	ready chan struct{} // closed once rpc is set

	mu       sync.Mutex
	shutdown bool
	name     string
	// handlers tracks in-flight request goroutines.
	handlers sync.WaitGroup
}

func (c *conn) close() {
	if c.rpc != nil {
		c.rpc.Close()
	}
}

// notify sends a notification; a client that went away is not an error.
func (c *conn) notify(ctx context.Context, method string, params any) {
	if err := c.rpc.Notify(ctx, method, params); err != nil && !errors.Is(err, jsonrpc2.ErrClosed) {
		slog.Debug("notifying a client", "client", c.id, "method", method, "err", err)
	}
}

// ServeConn serves one connection until the peer closes it, it sends
// exit, or ctx is done.
func (s *Server) ServeConn(ctx context.Context, rwc io.ReadWriteCloser) {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		rwc.Close()
		return
	}
	s.nextID++
	c := &conn{id: "c" + strconv.Itoa(s.nextID), s: s, ready: make(chan struct{})}
	s.mu.Unlock()
	// jsonrpc2 starts reading (and calling handlers) inside NewConn;
	// handlers wait for ready, so they see c.rpc.
	c.rpc = jsonrpc2.NewConn(ctx, jsonrpc2.NewBufferedStream(rwc, jsonrpc2.VSCodeObjectCodec{}), handler{c}, jsonrpc2.SetLogger(rpcLogger{}))
	close(c.ready)
	s.mu.Lock()
	s.conns[c.id] = c
	s.mu.Unlock()
	s.poke()
	slog.Info("client connected", "client", c.id)
	select {
	case <-c.rpc.DisconnectNotify():
	case <-ctx.Done():
		c.rpc.Close()
	}
	c.handlers.Wait()
	s.mu.Lock()
	delete(s.conns, c.id)
	s.mu.Unlock()
	s.targets.Unsubscribe(c.id)
	s.watches.unsubscribe(c.id)
	s.lang.closeConn(c.id)
	s.poke()
	slog.Info("client disconnected", "client", c.id, "name", c.clientName())
}

func (c *conn) clientName() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// connByID finds a live connection.
func (s *Server) connByID(id string) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[id]
}

// targetsChanged forwards a cache's change notice to its subscriber.
func (s *Server) targetsChanged(sub string, ch targets.Change) {
	if c := s.connByID(sub); c != nil {
		c.notify(context.Background(), api.TargetsChanged.Name, api.TargetsChangedParams{Namespace: ch.Namespace, KubeContext: ch.KubeContext})
	}
}

// rpcLogger sends jsonrpc2's own messages to slog instead of stderr.
type rpcLogger struct{}

func (rpcLogger) Printf(format string, v ...any) {
	slog.Debug(fmt.Sprintf(format, v...), "source", "jsonrpc2")
}
