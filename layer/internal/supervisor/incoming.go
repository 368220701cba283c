package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/layer/internal/incoming"
	"github.com/mirrord-go/mirrord/layer/internal/netfilter"
	"github.com/mirrord-go/mirrord/layer/internal/target"
)

// listener is a listening socket of the program that gets the target's
// traffic. It is keyed by inode: the supervisor keeps no fd of it, so
// that the program's close really closes it (a kept dup would go on
// accepting connections nobody serves).
type listener struct {
	plan netfilter.Listen
	dom  int
	// actual is where it really listens; the hub dials it.
	actual netip.AddrPort

	// mu serialises accepts, so that a poll that saw a connection is
	// followed by the accept that takes it.
	mu sync.Mutex
	// pending holds connections accepted for a caller that went away
	// before it got them (a signal): the next accept returns them first.
	pending []int

	// listening is read without subMu, which a listen holds for its
	// agent round trip: the loop's bind and the sweep must not wait.
	listening atomic.Bool
	// subMu serialises listens, and guards sub.
	subMu sync.Mutex
	sub   *incoming.Sub
}

// inTable is the incoming half of the supervisor's socket state.
type inTable struct {
	mu        sync.Mutex
	listeners map[uint64]*listener
	// accepted: sockets delivered from the target, with the pod address
	// the client reached (getsockname); their peer is in sockTable.peers.
	accepted map[uint64]netip.AddrPort
}

func (t *inTable) init() {
	t.listeners = map[uint64]*listener{}
	t.accepted = map[uint64]netip.AddrPort{}
}

func (t *inTable) listener(ino uint64) *listener {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listeners[ino]
}

// registerIncoming traps what a listening program does, when the
// target's traffic is to reach it.
func (s *Supervisor) registerIncoming() {
	switch {
	case s.cfg.Features.Network.Incoming.Mode == "" || s.cfg.Features.Network.Incoming.Mode == "off":
		return
	case s.cfg.Targetless:
		// Only to say why nothing arrives.
		s.on("listen", notifyAlways(unix.SYS_LISTEN), s.handleListenTargetless)
		return
	case s.in == nil || s.cfg.Incoming == nil:
		return
	}
	s.on("bind", notifyAlways(unix.SYS_BIND), s.handleBind)
	s.on("listen", notifyAlways(unix.SYS_LISTEN), s.handleListen)
	s.on("accept", notifyAlways(unix.SYS_ACCEPT), s.handleAccept)
	s.on("accept4", notifyAlways(unix.SYS_ACCEPT4), s.handleAccept)
	s.on("getsockname", notifyAlways(unix.SYS_GETSOCKNAME), s.handleGetsockname)
	s.on("getpeername", notifyAlways(unix.SYS_GETPEERNAME), s.handleGetpeername)
}

func (s *Supervisor) handleListenTargetless(c *call) {
	if k, err := getSock(c, int(c.arg(0))); err == nil {
		if k.inet() && k.proto == netfilter.TCP {
			port := localAddr(k.fd).Port()
			s.warnOnce(fmt.Sprintf("targetless-listen-%d", port),
				fmt.Sprintf("incoming traffic needs a target; port %d listens locally only", port))
		}
		k.close()
	}
	c.cont()
}

func (s *Supervisor) handleBind(c *call) {
	sa, err := c.p.ReadSockaddr(c.arg(1), c.arg(2))
	if err != nil || (sa.Family != unix.AF_INET && sa.Family != unix.AF_INET6) {
		if !errors.Is(err, target.ErrGone) {
			c.cont()
		}
		return
	}
	plan, ok := s.in.Plan(sa.AddrPort)
	if !ok || debuggerListen(c, sa.AddrPort) {
		c.cont()
		return
	}
	k, ok := sockFor(c, 0, func(k sock) bool { return k.inet() && k.proto == netfilter.TCP })
	if !ok {
		return
	}
	defer k.close()
	plan.Requested = sa.AddrPort
	t := &s.inc
	t.mu.Lock()
	defer t.mu.Unlock()
	for ino, l := range t.listeners {
		if ino != k.ino && l.plan.Requested == plan.Requested && !s.closedListener(ino, l) {
			// Two sockets of the program asking for one address: the
			// second would otherwise get a random port and share the
			// subscription.
			c.failErrno(unix.EADDRINUSE)
			return
		}
	}
	actual, err := bindManaged(k, plan)
	if err != nil {
		if plan.Fixed {
			s.log.Warn(fmt.Sprintf("feature.network.incoming.listen_ports maps port %d to %d, which cannot be bound: %v", plan.Requested.Port(), plan.Bind.Port(), err))
		}
		c.fail(err, unix.EADDRINUSE)
		return
	}
	t.listeners[k.ino] = &listener{plan: plan, dom: k.dom, actual: actual}
	if s.debug {
		s.log.Debug("bind", "requested", plan.Requested, "actual", actual, "target port", plan.Sub.Port)
	}
	c.ret(0)
}

// bindManaged binds the program's socket (our dup) where the plan says:
// the requested port if it is free here, else any port; a listen_ports
// entry must get exactly its port.
func bindManaged(k sock, plan netfilter.Listen) (netip.AddrPort, error) {
	err := unix.Bind(k.fd, target.ToUnix(k.dom, plan.Bind))
	if err != nil && !plan.Fixed {
		err = unix.Bind(k.fd, target.ToUnix(k.dom, netip.AddrPortFrom(plan.Bind.Addr(), 0)))
	}
	if err != nil {
		return netip.AddrPort{}, err
	}
	return localAddr(k.fd), nil
}

// dialable is the address the hub connects to for a listener bound at a.
func dialable(a netip.AddrPort) netip.AddrPort {
	ip := a.Addr().Unmap()
	switch {
	case ip.Is4() && ip.IsUnspecified():
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case ip.IsUnspecified():
		ip = netip.IPv6Loopback()
	}
	return netip.AddrPortFrom(ip, a.Port())
}

// managedListener is the socket of the call's fd and its listener, when
// it is one the target's traffic goes to; otherwise the call goes on to
// the kernel and ok is false.
func (s *Supervisor) managedListener(c *call) (sock, *listener, bool) {
	k, ok := sockFor(c, 0, nil)
	if !ok {
		return k, nil, false
	}
	l := s.inc.listener(k.ino)
	if l == nil {
		k.close()
		c.cont()
		return k, nil, false
	}
	return k, l, true
}

func (s *Supervisor) handleListen(c *call) {
	k, l, ok := s.managedListener(c)
	if !ok {
		return
	}
	c.async(func(ctx context.Context) {
		defer k.close()
		l.subMu.Lock()
		defer l.subMu.Unlock()
		if err := unix.Listen(k.fd, int(int32(c.arg(1)))); err != nil {
			c.fail(err, unix.EINVAL)
			return
		}
		if l.listening.Load() {
			// A second listen changes the backlog only.
			c.ret(0)
			return
		}
		l.listening.Store(true)
		// A listener of the same address that the program closed a moment
		// ago still holds its subscription until the next sweep, and the
		// agent would refuse this one: end it now (a server that restarts
		// in place, as hot-reload tools do).
		if live, err := tcpInodes(); err == nil {
			s.endSubscriptions(live)
		}
		rctx, cancel := c.remoteCtx(ctx)
		defer cancel()
		sub, err := s.cfg.Incoming.Subscribe(rctx, l.plan.Sub, dialable(l.actual))
		port := l.plan.Sub.Port
		if err != nil {
			var pe *protocol.Error
			if errors.As(err, &pe) && (pe.Code == protocol.CodeConflict || pe.Code == protocol.CodeDirty) {
				s.log.Error(fmt.Sprintf("port %d of the target cannot be subscribed: %s", port, pe.Msg))
				c.failErrno(unix.EADDRINUSE)
				return
			}
			s.warnOnce(fmt.Sprintf("subscribe-%d", port), fmt.Sprintf("port %d of the target could not be subscribed; it listens locally only: %v", port, err))
			c.ret(0)
			return
		}
		l.sub = sub
		// Upstream's line, which its tests (and ours) wait for.
		s.log.Debug("daemon subscribed port", "port", port, "mode", l.plan.Sub.Mode, "listening", l.actual)
		c.ret(0)
	})
}

func (s *Supervisor) handleAccept(c *call) {
	k, l, ok := s.managedListener(c)
	if !ok {
		return
	}
	flags := 0
	if c.n.Data.Nr == unix.SYS_ACCEPT4 {
		flags = int(c.arg(3))
	}
	c.async(func(ctx context.Context) {
		defer k.close()
		s.accept(ctx, c, k, l, flags)
	})
}

// accept takes a connection from the program's listener and hands it to
// the program as the kernel would, but with the address of the client in
// the cluster where the connection came from the target.
func (s *Supervisor) accept(ctx context.Context, c *call, k sock, l *listener, flags int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	nfd := -1
	if len(l.pending) > 0 {
		nfd, l.pending = l.pending[0], l.pending[1:]
	}
	fl, _ := unix.FcntlInt(uintptr(k.fd), unix.F_GETFL, 0)
	nonblock := fl&unix.O_NONBLOCK != 0
	for nfd < 0 {
		if !nonblock {
			// Wait in slices, so that a caller that goes away (or the
			// end of the session) does not leave us blocked in accept.
			pf := []unix.PollFd{{Fd: int32(k.fd), Events: unix.POLLIN}}
			if n, _ := unix.Poll(pf, 100); n <= 0 {
				if ctx.Err() != nil || c.valid() != nil {
					return
				}
				continue
			}
		}
		fd, _, err := unix.Accept4(k.fd, unix.SOCK_CLOEXEC)
		switch {
		case err == nil:
			nfd = fd
		case err == unix.EINTR || (err == unix.EAGAIN && !nonblock):
		default:
			c.fail(err, unix.EINVAL)
			return
		}
	}
	if flags&unix.SOCK_NONBLOCK != 0 {
		_ = unix.SetNonblock(nfd, true)
	}
	peer := netip.AddrPort{}
	if sa, err := unix.Getpeername(nfd); err == nil {
		peer = unmapAP(target.FromUnix(sa))
	}
	var st unix.Stat_t
	_ = unix.Fstat(nfd, &st)
	if p, ok := s.socks.peer(st.Ino); ok {
		// A pending connection, whose origin an earlier accept took.
		peer = p
	} else if o, ok := s.cfg.Incoming.Origin(peer); ok && o.Peer.IsValid() {
		peer = o.Peer
		s.socks.setPeer(st.Ino, peer)
		local := netip.AddrPortFrom(o.Local.Addr(), l.plan.Requested.Port())
		s.inc.mu.Lock()
		s.inc.accepted[st.Ino] = local
		s.inc.mu.Unlock()
	}
	if c.arg(1) != 0 && peer.IsValid() {
		if err := c.retAddr(1, l.dom, peer); err != nil {
			l.pending = append(l.pending, nfd)
			c.fail(err, unix.EFAULT)
			return
		}
	}
	if err := c.injectErr(nfd, flags&unix.SOCK_CLOEXEC != 0); err != nil {
		// The caller is gone (a signal); keep the connection for the
		// next accept rather than drop a client.
		l.pending = append(l.pending, nfd)
		return
	}
	unix.Close(nfd)
}

// retAddr writes ap, as a socket of family dom shows it, to the call's
// (sockaddr, socklen) out-parameters at arguments i and i+1.
func (c *call) retAddr(i int, dom int, ap netip.AddrPort) error {
	m, err := c.p.OpenMem()
	if err != nil {
		return err
	}
	defer m.Close()
	return m.WriteSockaddrOut(c.p, c.arg(i), c.arg(i+1), target.EncodeInet(dom, familyFit(dom, ap)))
}

// familyFit makes a peer address presentable on a socket of family dom:
// an IPv6 client on an IPv4 socket is shown as loopback, as upstream does.
func familyFit(dom int, ap netip.AddrPort) netip.AddrPort {
	if dom == unix.AF_INET && !ap.Addr().Unmap().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), ap.Port())
	}
	return ap
}

func (s *Supervisor) handleGetsockname(c *call) {
	k, ok := sockFor(c, 0, nil)
	if !ok {
		return
	}
	k.close()
	var addr netip.AddrPort
	s.inc.mu.Lock()
	if l := s.inc.listeners[k.ino]; l != nil {
		addr = l.plan.Requested
	} else if a, ok := s.inc.accepted[k.ino]; ok {
		addr = a
	}
	s.inc.mu.Unlock()
	if !addr.IsValid() {
		c.cont()
		return
	}
	if err := c.retAddr(1, k.dom, addr); err != nil {
		c.fail(err, unix.EFAULT)
		return
	}
	c.ret(0)
}

// sweepIncoming notices closed listeners (their subscription ends, so
// the pod gets its traffic back) and forgets closed accepted sockets
// (their inode may be reused). The program's close is not trapped: a
// socket shared by dup or fork closes only with its last fd, which
// /proc/net/tcp shows and a trap would have to count.
func (s *Supervisor) sweepIncoming(ctx context.Context) {
	defer s.wg.Done()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			s.endSubscriptions(nil)
			return
		case <-tick.C:
		}
		s.inc.mu.Lock()
		n := len(s.inc.listeners) + len(s.inc.accepted)
		s.inc.mu.Unlock()
		if n == 0 {
			continue
		}
		live, err := tcpInodes()
		if err != nil {
			s.warnOnce("proc-net-tcp", "reading /proc/net/tcp failed; closed listeners stay subscribed until the program exits", "err", err)
			continue
		}
		s.endSubscriptions(live)
	}
}

// endSubscriptions drops the listeners and accepted sockets whose inode
// is not in live (nil: all of them).
func (s *Supervisor) endSubscriptions(live map[uint64]bool) {
	var gone []*listener
	s.inc.mu.Lock()
	for ino, l := range s.inc.listeners {
		listening := l.listening.Load()
		// A bound socket that does not listen yet is not in
		// /proc/net/tcp.
		if !live[ino] && (listening || live == nil) {
			delete(s.inc.listeners, ino)
			gone = append(gone, l)
		}
	}
	for ino := range s.inc.accepted {
		if !live[ino] {
			delete(s.inc.accepted, ino)
			s.socks.mu.Lock()
			delete(s.socks.peers, ino)
			s.socks.mu.Unlock()
		}
	}
	s.inc.mu.Unlock()
	for _, l := range gone {
		l.subMu.Lock()
		sub := l.sub
		l.subMu.Unlock()
		l.mu.Lock()
		for _, fd := range l.pending {
			unix.Close(fd)
		}
		l.pending = nil
		l.mu.Unlock()
		if sub != nil {
			s.log.Debug("the program closed its listener; unsubscribing", "port", sub.Port)
			sub.Close()
		}
	}
}

// closedListener reports whether a recorded listener was closed since
// the last sweep (its address is free again for a new socket). Called
// with s.inc.mu held; the sweep ends its subscription.
func (s *Supervisor) closedListener(ino uint64, l *listener) bool {
	if !l.listening.Load() {
		return false
	}
	live, err := tcpInodes()
	return err == nil && !live[ino]
}

// debuggerListen reports whether a bind is a debugger's own listener
// (debugpy, a JDWP agent, node --inspect), which must stay local.
func debuggerListen(c *call, ap netip.AddrPort) bool {
	if ap.Addr().Unmap().IsUnspecified() {
		ap = dialable(ap)
	}
	dbg, _ := netfilter.ProcDebuggerConn("/proc", int(c.n.Pid), ap)
	return dbg
}

// tcpInodes lists the inodes of this network namespace's TCP sockets.
func tcpInodes() (map[uint64]bool, error) {
	live := map[uint64]bool{}
	for _, p := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(p)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 {
				continue
			}
			if ino, err := strconv.ParseUint(fields[9], 10, 64); err == nil && ino != 0 {
				live[ino] = true
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", p, err)
		}
	}
	return live, nil
}
