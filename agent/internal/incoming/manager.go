//go:build linux

// Package incoming is the agent's side of incoming traffic: it turns the
// subscriptions of its client sessions into capture rules, a sniffer and
// streams to the developer's machine.
//
// Three packages do the work and this one owns them, lazily, for the
// agent's whole life (one target):
//
//   - capture redirects stolen ports to a listener the manager owns in the
//     target's network namespace (nftables, one kernel-owned table);
//   - httpsteal routes each HTTP request of a filtered port to a client or
//     to the app in the pod;
//   - sniff copies the connections of mirrored ports without touching them.
//
// A port is stolen by at most one unfiltered subscription, or by any number
// of filtered ones (the first matching filter wins, in subscription order);
// mixing the two, or stealing a port another agent redirects, is a
// CodeConflict error rather than a silent split. Every connection the
// manager cannot hand to a client (no subscription any more, the client's
// program closed its listener, the stream could not be opened) goes to the
// app in the pod, so a subscription that ends loses nothing.
package incoming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/incoming/capture"
	"github.com/mirrord-go/mirrord/agent/internal/incoming/httpsteal"
	"github.com/mirrord-go/mirrord/agent/internal/incoming/sniff"
	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/internal/graceful"
)

// Mark is the fwmark of the agent's passthrough dials to the target's own
// ports ("mir" in ASCII): the capture's output chain leaves them alone.
const Mark = 0x6d6972

// Client is the session a subscription delivers to.
type Client interface {
	// Open opens a stream to the client; an error means the client did not
	// take the connection (its program is not listening any more).
	Open(ctx context.Context, h protocol.StreamHeader) (net.Conn, error)
}

// Options configure a Manager.
type Options struct {
	// NS is the target's network namespace.
	NS nsenter.Namespace
	// Owner identifies this agent in the capture table's name and in other
	// agents' conflict errors.
	Owner string
	// FlushConnections resets established connections to a port when it
	// starts being stolen (agent.flush_connections).
	FlushConnections bool
	// CleanLeftovers deletes capture tables of dead agents instead of
	// failing (agent.clean_iptables_on_start).
	CleanLeftovers bool
	// DetectTimeout is how long a filtered port waits for a client's first
	// bytes before treating the connection as not HTTP
	// (agent.http_detection_timeout); zero is httpsteal's default.
	DetectTimeout time.Duration
	Log           *slog.Logger
}

// Manager holds every subscription of one agent.
type Manager struct {
	o   Options
	log *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	// drain is closed by Close: HTTP connections finish their requests in
	// flight and close (see httpsteal.Options.Drain) before ctx cuts the
	// rest.
	drain chan struct{}
	wg    sync.WaitGroup // accept loop and served connections

	mu     sync.Mutex
	closed bool
	ln     net.Listener
	cap    *capture.Capture
	sn     *sniff.Sniffer
	nextID uint64
	subs   map[uint64]*sub
	ports  map[uint16]*portState
	// published is a copy of ports that the per-connection and
	// per-request paths read without m.mu, which a subscription holds
	// through slow netlink work; it is replaced, never changed.
	published atomic.Pointer[map[uint16]portState]
}

type sub struct {
	id      uint64
	port    uint16
	mode    string
	matcher *httpsteal.Matcher // filtered steal only
	client  Client
}

// portState is what one target port is subscribed by, in order.
type portState struct {
	mirror   []*sub
	steal    *sub // unfiltered
	filtered []*sub
}

func (p *portState) stolen() bool { return p.steal != nil || len(p.filtered) > 0 }
func (p *portState) empty() bool  { return !p.stolen() && len(p.mirror) == 0 }

// New returns a Manager with nothing opened yet.
func New(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{o: o, log: o.Log, ctx: ctx, cancel: cancel, drain: make(chan struct{}), subs: map[uint64]*sub{}, ports: map[uint16]*portState{}}
}

// Prepare checks, at a session's start, that traffic can be captured: it
// opens the capture table, which finds (or, with CleanLeftovers, deletes)
// leftover tables of dead agents. A mirror-only session does not need the
// kernel's nat support, so mode mirror only fails on leftovers.
func (m *Manager) Prepare(ctx context.Context, mode string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.openCaptureLocked(ctx)
	if err != nil && mode == protocol.ModeMirror && errors.Is(err, capture.ErrUnsupported) {
		m.log.Warn("stealing would not work in this target", "err", err)
		return nil
	}
	return err
}

// Subscribe starts delivering port's connections to c.
func (m *Manager) Subscribe(ctx context.Context, c Client, req protocol.SubscribeRequest) (uint64, error) {
	if req.Port == 0 {
		return 0, protocol.Errorf(protocol.CodeInvalid, "subscribing port 0")
	}
	s := &sub{port: req.Port, mode: req.Mode, client: c}
	switch req.Mode {
	case protocol.ModeMirror:
		if req.HTTPFilter != nil {
			return 0, protocol.Errorf(protocol.CodeInvalid, "port %d: an HTTP filter needs mode steal, not mirror", req.Port)
		}
	case protocol.ModeSteal:
		if req.HTTPFilter != nil {
			mt, err := httpsteal.Compile(*req.HTTPFilter)
			if err != nil {
				return 0, protocol.Errorf(protocol.CodeInvalid, "port %d: %v", req.Port, err)
			}
			s.matcher = mt
		}
	default:
		return 0, protocol.Errorf(protocol.CodeInvalid, "port %d: unknown mode %q (want %s or %s)", req.Port, req.Mode, protocol.ModeMirror, protocol.ModeSteal)
	}

	// Another agent holding the port may be one that is ending: its
	// client crashed or was killed a moment ago (the developer restarts
	// the app) and it learns so in a second or two. Waiting a little for
	// it spares the new session an error; a live competitor still gets
	// one.
	deadline := time.Now().Add(conflictWait)
	waiting := false
	for {
		id, err := m.subscribe(ctx, s)
		var conflict *capture.ConflictError
		if !errors.As(err, &conflict) || time.Now().After(deadline) {
			return id, captureError(err)
		}
		if !waiting {
			waiting = true
			m.log.Info("waiting for another agent to give the port back", "port", s.port, "err", err)
		}
		select {
		case <-ctx.Done():
			return 0, captureError(err)
		case <-time.After(conflictRetry):
		}
	}
}

// conflictWait bounds how long Subscribe waits for another agent to give
// a port back, retrying every conflictRetry. An agent whose client
// vanished learns so within a few seconds (its port-forward stream ends).
const (
	conflictWait  = 5 * time.Second
	conflictRetry = 200 * time.Millisecond
)

// subscribe adds s once; the error is capture's own (not yet a
// protocol error) so that Subscribe can tell a conflict with another agent.
func (m *Manager) subscribe(ctx context.Context, s *sub) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, protocol.Errorf(protocol.CodeInternal, "the agent is shutting down")
	}
	p := m.ports[s.port]
	if p == nil {
		p = &portState{}
	}
	if err := m.startLocked(ctx, p, s); err != nil {
		return 0, err
	}
	m.ports[s.port] = p
	m.nextID++
	s.id = m.nextID
	m.subs[s.id] = s
	m.publishLocked()
	m.log.Info("subscribed", "port", s.port, "mode", s.mode, "filter", s.filterString(), "id", s.id)
	return s.id, nil
}

func (s *sub) filterString() string {
	if s.matcher == nil {
		return ""
	}
	return s.matcher.String()
}

// startLocked adds s to p, opening what it needs.
func (m *Manager) startLocked(ctx context.Context, p *portState, s *sub) error {
	if s.mode == protocol.ModeMirror {
		if err := m.openSnifferLocked(); err != nil {
			return err
		}
		if len(p.mirror) == 0 {
			m.sn.Watch(s.port)
		}
		p.mirror = append(p.mirror, s)
		return nil
	}
	switch {
	case p.steal != nil:
		return protocol.Errorf(protocol.CodeConflict, "port %d is already stolen by another mirrord session of this target", s.port)
	case s.matcher == nil && len(p.filtered) > 0:
		return protocol.Errorf(protocol.CodeConflict, "port %d is stolen with HTTP filters by another mirrord session; stealing all its traffic would take their requests", s.port)
	}
	if !p.stolen() {
		if err := m.openCaptureLocked(ctx); err != nil {
			return err
		}
		if err := m.cap.Redirect(s.port); err != nil {
			return err // Subscribe makes it a protocol error
		}
	}
	if s.matcher == nil {
		p.steal = s
	} else {
		p.filtered = append(p.filtered, s)
	}
	return nil
}

// Unsubscribe ends subscription id of c.
func (m *Manager) Unsubscribe(c Client, id uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.subs[id]
	if s == nil || s.client != c {
		return protocol.Errorf(protocol.CodeNotFound, "no subscription %d in this session", id)
	}
	return m.removeLocked(s)
}

// Release ends every subscription of c (its session ended).
func (m *Manager) Release(c Client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.subs {
		if s.client == c {
			if err := m.removeLocked(s); err != nil {
				m.log.Warn("ending a subscription of a closed session", "port", s.port, "err", err)
			}
		}
	}
}

func (m *Manager) removeLocked(s *sub) error {
	delete(m.subs, s.id)
	p := m.ports[s.port]
	if p == nil {
		return nil
	}
	wasStolen := p.stolen()
	del := func(l []*sub) []*sub { return slices.DeleteFunc(l, func(x *sub) bool { return x == s }) }
	p.mirror, p.filtered = del(p.mirror), del(p.filtered)
	if p.steal == s {
		p.steal = nil
	}
	var err error
	if wasStolen && !p.stolen() && m.cap != nil {
		if err = m.cap.Unredirect(s.port); err != nil {
			err = fmt.Errorf("giving port %d back to the pod: %w", s.port, err)
		}
	}
	if len(p.mirror) == 0 && m.sn != nil {
		m.sn.Unwatch(s.port)
	}
	if p.empty() {
		delete(m.ports, s.port)
	}
	m.publishLocked()
	m.log.Info("unsubscribed", "port", s.port, "mode", s.mode, "id", s.id)
	return err
}

// drainTimeout bounds how long Close lets served connections finish: the
// pod has its ports back already (nothing is redirected any more), so this
// only protects requests in flight.
const drainTimeout = 10 * time.Second

// Close gives every port back, stops the sniffer, lets the HTTP
// connections being served finish their requests in flight (for up to
// drainTimeout), cuts what is left and waits for it, and only then
// removes the capture table. The table outlives the drain because its nat
// chains are what keeps the kernel's NAT hooks registered in the pod's
// namespace: without them the replies of connections already redirected
// to the agent are no longer translated back, the client gets RSTs from
// the listener's port, and it retries requests the app already answered.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var errs []error
	for port, p := range m.ports {
		if p.stolen() && m.cap != nil {
			if err := m.cap.Unredirect(port); err != nil {
				errs = append(errs, fmt.Errorf("giving port %d back to the pod: %w", port, err))
			}
		}
	}
	ln, sn, capt := m.ln, m.sn, m.cap
	m.mu.Unlock()
	// Not under m.mu: the sniffer's Close waits for its capture loop,
	// whose handler (mirrorHandler) takes m.mu.
	if ln != nil {
		errs = append(errs, ln.Close())
	}
	if sn != nil {
		errs = append(errs, sn.Close())
	}
	close(m.drain)
	graceful.Wait(&m.wg, drainTimeout, m.cancel)
	if capt != nil {
		errs = append(errs, capt.Close())
	}
	return errors.Join(errs...)
}

// openCaptureLocked opens the listener stolen connections are redirected
// to and the capture table, once.
func (m *Manager) openCaptureLocked(ctx context.Context) error {
	if m.cap != nil {
		return nil
	}
	if m.ln == nil {
		var ln net.Listener
		err := m.o.NS.Do(func() error {
			var err error
			// [::]:0 takes IPv4 too; the redirect keeps the address family.
			ln, err = net.Listen("tcp", ":0")
			return err
		})
		if err != nil {
			return fmt.Errorf("listening for stolen connections in the target's network namespace: %w", err)
		}
		m.ln = ln
		m.wg.Add(1)
		go m.acceptLoop(ln)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := capture.Open(cctx, capture.Options{
		NS: m.o.NS, Owner: m.o.Owner, ListenPort: uint16(m.ln.Addr().(*net.TCPAddr).Port), Mark: Mark,
		FlushConnections: m.o.FlushConnections, CleanLeftovers: m.o.CleanLeftovers, Log: m.log,
	})
	if err != nil {
		return captureError(err)
	}
	m.cap = c
	return nil
}

func (m *Manager) openSnifferLocked() error {
	if m.sn != nil {
		return nil
	}
	// m.ctx, not the subscribing session's ctx: the sniffer serves every
	// later mirror session of this agent too, and Close stops it.
	sn, err := sniff.Open(m.ctx, sniff.Options{NS: m.o.NS, Log: m.log, Handler: m.mirrorHandler})
	if err != nil {
		return fmt.Errorf("starting the mirror capture in the target's network namespace (the agent needs CAP_NET_RAW): %w", err)
	}
	m.sn = sn
	return nil
}

// captureError gives capture's errors their protocol codes.
func captureError(err error) error {
	var dirty *capture.DirtyError
	var conflict *capture.ConflictError
	switch {
	case errors.As(err, &dirty):
		return protocol.Errorf(protocol.CodeDirty, "%v", err)
	case errors.As(err, &conflict):
		return protocol.Errorf(protocol.CodeConflict, "%v", err)
	case errors.Is(err, capture.ErrUnsupported):
		return protocol.Errorf(protocol.CodeUnsupported, "%v", err)
	}
	return err
}

// snapshot returns the port's subscriptions as they are now.
func (m *Manager) snapshot(port uint16) portState {
	if ports := m.published.Load(); ports != nil {
		return (*ports)[port]
	}
	return portState{}
}

// publishLocked replaces the published copy of m.ports.
func (m *Manager) publishLocked() {
	ports := make(map[uint16]portState, len(m.ports))
	for port, p := range m.ports {
		ports[port] = portState{mirror: slices.Clone(p.mirror), steal: p.steal, filtered: slices.Clone(p.filtered)}
	}
	m.published.Store(&ports)
}

// header is the stream header of a connection delivered to s.
func (s *sub) header(peer, local netip.AddrPort) protocol.StreamHeader {
	return protocol.StreamHeader{Kind: protocol.StreamIncoming, Subscription: s.id, Peer: peer.String(), Local: local.String()}
}

// dialOriginal connects to where a stolen connection was going, from the
// target's namespace, marked so that the capture leaves it alone.
func (m *Manager) dialOriginal(ctx context.Context, dst netip.AddrPort) (net.Conn, error) {
	d := nsenter.Dialer{NS: m.o.NS, Timeout: 10 * time.Second, Control: capture.Control(Mark)}
	conn, err := d.Dial(ctx, "tcp", dst.String())
	if err != nil {
		return nil, fmt.Errorf("connecting to the pod's app at %s: %w", dst, err)
	}
	return conn, nil
}
