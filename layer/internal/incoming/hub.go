// Package incoming is the local end of incoming traffic. When a supervised
// program listens on a port that is subscribed, the supervisor asks the hub
// to subscribe the target's port on the agent; the agent then opens one
// stream per connection (mirrored or stolen), and the hub turns each stream
// into a real TCP connection to the program's actual listener.
//
// The program must see the original client, not the hub's loopback socket:
// the hub remembers, per loopback source address it dialled from, the
// client's address in the cluster and the pod address it reached. The
// supervisor's accept handler looks that up (Origin) and writes it into the
// program's sockaddr, and getpeername/getsockname answer with it later.
//
// The hub is per agent connection: several supervisors (launch model b)
// share one, and subscriptions are told apart by their ID in every stream.
package incoming

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/internal/graceful"
	"github.com/mirrord-go/mirrord/layer/internal/target"
)

// Agent is the part of the agent session the hub uses.
type Agent interface {
	Call(ctx context.Context, kind protocol.Kind, req, resp any) error
}

// Conn is what is known of one delivered connection.
type Conn struct {
	// Peer is the client in the cluster (ip:port); Local is the pod address
	// it connected to.
	Peer, Local netip.AddrPort
}

// Hub dispatches the agent's incoming streams to subscriptions.
type Hub struct {
	log *slog.Logger

	mu    sync.Mutex
	agent Agent
	subs  map[uint64]*Sub
	// origins holds the delivered connections the program has not
	// accepted yet; an entry goes when accepted or when its connection
	// ends, so the map stays as small as the listeners' backlogs.
	origins map[netip.AddrPort]origin
	gen     uint64
	closed  bool
	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
}

type origin struct {
	c   Conn
	gen uint64 // tells this connection's entry from a later one on the same source port
}

// NewHub returns a hub with no agent yet: it must exist before the agent
// connection (its OnStream is a client option); Attach sets the agent.
func NewHub(log *slog.Logger) *Hub {
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{log: log, subs: map[uint64]*Sub{}, origins: map[netip.AddrPort]origin{}, ctx: ctx, cancel: cancel}
}

// Attach gives the hub its agent session.
func (h *Hub) Attach(a Agent) {
	h.mu.Lock()
	h.agent = a
	h.mu.Unlock()
}

// Close ends every delivered connection and forgets the subscriptions
// (the agent drops them with the session).
func (h *Hub) Close() {
	// Give the ports back first, while the session still works: the agent
	// then sends new connections to the pod at once instead of opening
	// streams to a client that is about to go away.
	h.mu.Lock()
	subs := make([]*Sub, 0, len(h.subs))
	for _, s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.close(2 * time.Second)
		}()
	}
	wg.Wait()
	h.mu.Lock()
	h.closed = true
	h.subs = map[uint64]*Sub{}
	h.mu.Unlock()
	// The program has usually exited when the hub closes, but its last
	// answers may still be on their way to the agent: cutting them would
	// make the agent's HTTP client retry the request at the pod, which
	// then gets it a second time. So the delivered connections get a
	// moment to finish before they are cut.
	graceful.Wait(&h.wg, closeGrace, h.cancel)
}

// closeGrace bounds how long Close waits for delivered connections.
const closeGrace = 5 * time.Second

// Sub is one subscribed port.
type Sub struct {
	h    *Hub
	id   uint64
	Port uint16 // the target's port
	to   netip.AddrPort
	// fixed keeps the subscription when the listener refuses.
	fixed bool
	once  sync.Once
	// Gone is closed when the subscription ended (Close, or the program's
	// listener went away).
	Gone chan struct{}
}

// ErrNoAgent is returned by Subscribe before Attach.
var ErrNoAgent = errors.New("incoming traffic: no agent session")

// Subscribe asks the agent for the traffic of req.Port, to be delivered to
// the program's listener at to.
func (h *Hub) Subscribe(ctx context.Context, req protocol.SubscribeRequest, to netip.AddrPort) (*Sub, error) {
	return h.subscribe(ctx, req, to, false)
}

// SubscribeFixed is Subscribe for a listener that is not a supervised
// program's (port-forward -R): a refused connection is refused to the
// agent, which hands it to the pod, but the subscription stays, since the
// local server may start later.
func (h *Hub) SubscribeFixed(ctx context.Context, req protocol.SubscribeRequest, to netip.AddrPort) (*Sub, error) {
	return h.subscribe(ctx, req, to, true)
}

func (h *Hub) subscribe(ctx context.Context, req protocol.SubscribeRequest, to netip.AddrPort, fixed bool) (*Sub, error) {
	h.mu.Lock()
	a := h.agent
	h.mu.Unlock()
	if a == nil {
		return nil, ErrNoAgent
	}
	var resp protocol.SubscribeResponse
	if err := a.Call(ctx, protocol.KindSubscribe, req, &resp); err != nil {
		return nil, err
	}
	s := &Sub{h: h, id: resp.ID, Port: req.Port, to: to, fixed: fixed, Gone: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrNoAgent
	}
	h.subs[s.id] = s
	h.mu.Unlock()
	h.log.Debug("daemon subscribed port", "port", req.Port, "mode", req.Mode, "listener", to)
	return s, nil
}

// Close ends the subscription: the pod gets its traffic back.
func (s *Sub) Close() { s.close(10 * time.Second) }

func (s *Sub) close(timeout time.Duration) {
	s.once.Do(func() {
		close(s.Gone)
		h := s.h
		h.mu.Lock()
		delete(h.subs, s.id)
		a, closed := h.agent, h.closed
		h.mu.Unlock()
		if a == nil || closed {
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, timeout)
		defer cancel()
		if err := a.Call(ctx, protocol.KindUnsubscribe, protocol.UnsubscribeRequest{ID: s.id}, nil); err != nil && h.ctx.Err() == nil {
			h.log.Debug("unsubscribing failed", "port", s.Port, "err", err)
		}
	})
}

// Lost ends a subscription the agent ended (protocol.SubscriptionLost).
func (h *Hub) Lost(id uint64, reason string) {
	h.mu.Lock()
	s := h.subs[id]
	delete(h.subs, id)
	h.mu.Unlock()
	if s != nil {
		h.log.Warn(fmt.Sprintf("the agent ended the subscription of port %d: %s", s.Port, reason))
		s.once.Do(func() { close(s.Gone) })
	}
}

// Origin returns, once, the cluster addresses of the connection the hub
// dialled from src (the peer address the program's accept sees).
func (h *Hub) Origin(src netip.AddrPort) (Conn, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	o, ok := h.origins[unmap(src)]
	if ok {
		delete(h.origins, unmap(src))
	}
	return o.c, ok
}

func (h *Hub) remember(src netip.AddrPort, c Conn) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	h.origins[unmap(src)] = origin{c: c, gen: h.gen}
	return h.gen
}

// forget drops the origin remembered as gen, if the program did not take it.
func (h *Hub) forget(src netip.AddrPort, gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if o, ok := h.origins[unmap(src)]; ok && o.gen == gen {
		delete(h.origins, unmap(src))
	}
}

// loopbackAny is port 0 on the loopback address of to's family.
func loopbackAny(to netip.AddrPort) unix.Sockaddr {
	if to.Addr().Is4() || to.Addr().Is4In6() {
		return &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	}
	return &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}
}

func unmap(ap netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) }

// OnStream serves a stream the agent opened (protocol.ClientOptions.OnStream).
func (h *Hub) OnStream(hdr protocol.StreamHeader, st *protocol.AgentStream) {
	if hdr.Kind != protocol.StreamIncoming {
		st.Refuse(protocol.Errorf(protocol.CodeUnsupported, "the client does not accept %s streams", hdr.Kind))
		return
	}
	h.mu.Lock()
	s := h.subs[hdr.Subscription]
	if h.closed {
		s = nil
	}
	if s != nil {
		h.wg.Add(1)
	}
	h.mu.Unlock()
	if s == nil {
		st.Refuse(protocol.Errorf(protocol.CodeNotFound, "no subscription %d here", hdr.Subscription))
		return
	}
	defer h.wg.Done()
	h.deliver(s, hdr, st)
}

// deliver connects to the program's listener and pipes the stream to it.
// A refused connect means the program closed its listener: the stream is
// refused (the agent then hands the connection to the pod's app) and the
// subscription ends.
func (h *Hub) deliver(s *Sub, hdr protocol.StreamHeader, st *protocol.AgentStream) {
	peer, _ := netip.ParseAddrPort(hdr.Peer)
	local, _ := netip.ParseAddrPort(hdr.Local)
	var src netip.AddrPort
	var gen uint64
	d := net.Dialer{Timeout: 5 * time.Second, ControlContext: func(_ context.Context, _, _ string, rc syscall.RawConn) error {
		// The origin must be known before the connect: the program may
		// accept the connection before the dial returns here.
		var err error
		cerr := rc.Control(func(fd uintptr) {
			if err = unix.Bind(int(fd), loopbackAny(s.to)); err != nil {
				return
			}
			var sa unix.Sockaddr
			if sa, err = unix.Getsockname(int(fd)); err == nil && !s.fixed {
				// A fixed subscription's listener is not the
				// supervised program's: nobody asks for the origin.
				src = unmap(target.FromUnix(sa))
				gen = h.remember(src, Conn{Peer: peer, Local: local})
			}
		})
		return errors.Join(cerr, err)
	}}
	conn, err := d.DialContext(h.ctx, "tcp", s.to.String())
	if err != nil {
		if src.IsValid() {
			h.forget(src, gen)
		}
		st.Refuse(protocol.Errorf(protocol.CodeUnreachable, "the local listener %s of port %d: %v", s.to, s.Port, err))
		if errors.Is(err, syscall.ECONNREFUSED) && !s.fixed {
			h.log.Debug("the program's listener is gone; unsubscribing", "port", s.Port, "listener", s.to)
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				s.Close()
			}()
		}
		return
	}
	tc := conn.(*net.TCPConn)
	if err := st.Accept(); err != nil {
		tc.Close()
		st.Close()
		return
	}
	stop := context.AfterFunc(h.ctx, func() {
		tc.Close()
		st.Close()
	})
	defer stop()
	if src.IsValid() {
		defer h.forget(src, gen)
	}
	_ = protocol.Pipe(tc, st.Conn)
}
