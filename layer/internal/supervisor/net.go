package supervisor

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/layer/internal/netfilter"
	"github.com/mirrord-go/mirrord/layer/internal/target"
)

// TCP states from include/net/tcp_states.h.
const (
	tcpEstablished = 1
	tcpSynSent     = 2
)

// sockTable remembers what the supervisor did to the program's sockets,
// keyed by socket inode (the same for the program's fd and our dup, and
// stable across dup/fork in the program).
type sockTable struct {
	mu sync.Mutex
	// peers: the address the program connected to, for getpeername.
	peers map[uint64]netip.AddrPort
	// sources: per socket, relay address → the address the program thinks
	// it talks to, for the source address of recvfrom.
	sources map[uint64]map[netip.AddrPort]netip.AddrPort
	// udp: relays created by sendto, per socket and destination.
	udp map[udpKey]*udpEntry

	lookupMu sync.Mutex
	lookups  map[string][]netip.Addr
}

type udpKey struct {
	ino uint64
	dst netip.AddrPort
}

type udpEntry struct {
	once  sync.Once
	relay *udpRelay
	err   error
}

func (t *sockTable) init() {
	t.peers = map[uint64]netip.AddrPort{}
	t.sources = map[uint64]map[netip.AddrPort]netip.AddrPort{}
	t.udp = map[udpKey]*udpEntry{}
	t.lookups = map[string][]netip.Addr{}
}

func (t *sockTable) setPeer(ino uint64, ap netip.AddrPort) {
	t.mu.Lock()
	t.peers[ino] = ap
	t.mu.Unlock()
}

func (t *sockTable) peer(ino uint64) (netip.AddrPort, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ap, ok := t.peers[ino]
	return ap, ok
}

// forgetPeer drops the peer entry if it still is ap (a later connect of
// the same socket may have replaced it).
func (t *sockTable) forgetPeer(ino uint64, ap netip.AddrPort) {
	t.mu.Lock()
	if t.peers[ino] == ap {
		delete(t.peers, ino)
	}
	t.mu.Unlock()
}

func (t *sockTable) addSource(ino uint64, relay, orig netip.AddrPort) {
	t.mu.Lock()
	m := t.sources[ino]
	if m == nil {
		m = map[netip.AddrPort]netip.AddrPort{}
		t.sources[ino] = m
	}
	m[relay] = orig
	t.mu.Unlock()
}

func (t *sockTable) dropSource(ino uint64, relay netip.AddrPort) {
	t.mu.Lock()
	if m := t.sources[ino]; m != nil {
		delete(m, relay)
		if len(m) == 0 {
			delete(t.sources, ino)
		}
	}
	t.mu.Unlock()
}

func (t *sockTable) hasSources(ino uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.sources[ino]) > 0
}

func (t *sockTable) original(ino uint64, from netip.AddrPort) (netip.AddrPort, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	orig, ok := t.sources[ino][unmapAP(from)]
	return orig, ok
}

func (t *sockTable) udpEntry(k udpKey) *udpEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.udp[k]
	if e == nil {
		e = &udpEntry{}
		t.udp[k] = e
	}
	return e
}

func (t *sockTable) dropUDP(k udpKey, e *udpEntry) {
	t.mu.Lock()
	if t.udp[k] == e {
		delete(t.udp, k)
	}
	t.mu.Unlock()
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// lookup resolves a name of the outgoing filter through the agent, once.
func (s *Supervisor) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	t := &s.socks
	t.lookupMu.Lock()
	addrs, ok := t.lookups[name]
	t.lookupMu.Unlock()
	if ok {
		return addrs, nil
	}
	addrs, err := s.remote.Lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	t.lookupMu.Lock()
	t.lookups[name] = addrs
	t.lookupMu.Unlock()
	return addrs, nil
}

// sock is the program's socket, duplicated into the supervisor.
type sock struct {
	fd    int
	dom   int
	proto netfilter.Proto
	ino   uint64
}

// getSock duplicates the program's fd and reads its family, type and
// inode. Callers close it; k.inet() says whether it is a TCP/UDP socket.
// sockFor gets the socket of the call's fd argument i, when want accepts
// it (nil: any socket). Otherwise the socket is closed, the call goes on
// to the kernel (unless the caller is gone), and ok is false.
func sockFor(c *call, i int, want func(sock) bool) (k sock, ok bool) {
	k, err := getSock(c, int(c.arg(i)))
	if err == nil && (want == nil || want(k)) {
		return k, true
	}
	k.close()
	if !errors.Is(err, target.ErrGone) {
		c.cont()
	}
	return k, false
}

func getSock(c *call, fd int) (sock, error) {
	dup, err := c.p.GetFD(fd)
	if err != nil {
		return sock{fd: -1}, err
	}
	s := sock{fd: dup}
	dom, err1 := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_DOMAIN)
	typ, err2 := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_TYPE)
	var st unix.Stat_t
	err3 := unix.Fstat(dup, &st)
	if err := errors.Join(err1, err2, err3); err != nil {
		unix.Close(dup)
		return sock{fd: -1}, err
	}
	s.dom, s.ino = dom, st.Ino
	switch typ {
	case unix.SOCK_STREAM:
		s.proto = netfilter.TCP
	case unix.SOCK_DGRAM:
		s.proto = netfilter.UDP
	}
	return s, nil
}

func (k sock) close() {
	if k.fd >= 0 {
		unix.Close(k.fd)
	}
}

func (k sock) inet() bool {
	return (k.dom == unix.AF_INET || k.dom == unix.AF_INET6) && k.proto != ""
}

// decide says whether a connection goes through the pod. With DNS on, the
// pod's nameservers (the ones the served resolv.conf names) are always
// reached through the pod; with DNS off, port 53 stays local.
func (s *Supervisor) decide(ctx context.Context, proto netfilter.Proto, ap netip.AddrPort) (bool, string, error) {
	if ap.Port() == 53 {
		if !s.cfg.Features.Network.DNS.Enabled {
			return false, "feature.network.dns is off", nil
		}
		if s.isNameserver(ap.Addr().Unmap().String()) {
			return true, "the target's nameserver", nil
		}
	}
	return s.out.Decide(ctx, proto, ap, s.lookup)
}

// withDecision runs then with the routing decision, off the loop when the
// decision may need a remote lookup.
func (s *Supervisor) withDecision(c *call, k sock, ap netip.AddrPort, then func(ctx context.Context, remote bool)) {
	// A debugger's own loopback ports stay local (netfilter/debugger.go).
	if dbg, why := netfilter.ProcDebuggerConn("/proc", int(c.n.Pid), ap); dbg {
		if s.debug {
			s.log.Debug(c.name, "addr", ap, "proto", k.proto, "remote", false, "why", why)
		}
		then(s.ctx, false)
		return
	}
	if !s.out.NeedsResolver() {
		remote, why, _ := s.decide(s.ctx, k.proto, ap)
		if s.debug {
			s.log.Debug(c.name, "addr", ap, "proto", k.proto, "remote", remote, "why", why)
		}
		then(s.ctx, remote)
		return
	}
	c.async(func(ctx context.Context) {
		rctx, cancel := c.remoteCtx(ctx)
		defer cancel()
		remote, why, err := s.decide(rctx, k.proto, ap)
		if err != nil {
			s.warnOnce("filter-"+err.Error(), "the outgoing filter could not be applied; the connection stays local", "err", err)
		}
		if s.debug {
			s.log.Debug(c.name, "addr", ap, "proto", k.proto, "remote", remote, "why", why)
		}
		then(ctx, remote)
	})
}

func (s *Supervisor) handleConnect(c *call) {
	sa, err := c.p.ReadSockaddr(c.arg(1), c.arg(2))
	if err != nil {
		if !errors.Is(err, target.ErrGone) {
			c.cont()
		}
		return
	}
	if sa.Family == unix.AF_UNSPEC {
		// Dissolves a UDP association: getpeername must stop answering
		// with the old peer.
		if k, err := getSock(c, int(c.arg(0))); err == nil {
			k.close()
			if p, ok := s.socks.peer(k.ino); ok {
				s.socks.forgetPeer(k.ino, p)
			}
		}
		c.cont()
		return
	}
	if sa.Family == unix.AF_UNIX && s.handleUnixConnect(c, sa) {
		return
	}
	if sa.Family != unix.AF_INET && sa.Family != unix.AF_INET6 {
		c.cont()
		return
	}
	k, ok := sockFor(c, 0, sock.inet)
	if !ok {
		return
	}
	if k.proto == netfilter.TCP {
		// A repeated connect on a socket that is already connecting or
		// connected: the kernel's answer, without a new remote dial.
		if ti, err := unix.GetsockoptTCPInfo(k.fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			switch ti.State {
			case tcpEstablished:
				k.close()
				c.failErrno(unix.EISCONN)
				return
			case tcpSynSent:
				k.close()
				c.failErrno(unix.EALREADY)
				return
			}
		}
	}
	s.throughPod(c, k, sa.AddrPort, func(ctx context.Context) {
		if k.proto == netfilter.TCP {
			s.connectTCP(ctx, c, k, sa.AddrPort)
		} else {
			s.connectUDP(ctx, c, k, sa.AddrPort)
		}
	})
}

// connectFD connects the program's socket (our dup) to a relay. A
// non-blocking socket gives EINPROGRESS, which the program then sees, as
// it would have for its own connect.
func connectFD(k sock, to netip.AddrPort) error {
	sa := target.ToUnix(k.dom, to)
	err := unix.Connect(k.fd, sa)
	for err == unix.EINTR {
		// Our thread took a signal; the handshake goes on. Wait for it.
		pf := []unix.PollFd{{Fd: int32(k.fd), Events: unix.POLLOUT}}
		if _, perr := unix.Poll(pf, 5000); perr == unix.EINTR {
			continue
		}
		soerr, gerr := unix.GetsockoptInt(k.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case gerr != nil:
			err = gerr
		case soerr != 0:
			err = unix.Errno(soerr)
		default:
			err = nil
		}
	}
	return err
}

func localAddr(fd int) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}
	}
	return unmapAP(target.FromUnix(sa))
}

// appAddr is the address the program's socket sends from to a relay at
// relay: a socket bound to the wildcard address (an unconnected sendto)
// sends to loopback from the loopback address.
func appAddr(fd int, relay netip.AddrPort) netip.AddrPort {
	a := localAddr(fd)
	if a.Addr().IsUnspecified() {
		return netip.AddrPortFrom(relay.Addr(), a.Port())
	}
	return a
}

func dialAddr(ap netip.AddrPort) string { return unmapAP(ap).String() }

func (s *Supervisor) connectTCP(ctx context.Context, c *call, k sock, orig netip.AddrPort) {
	rctx, cancel := c.remoteCtx(ctx)
	defer cancel()
	conn, err := s.remote.DialTCP(rctx, dialAddr(orig))
	if err != nil {
		c.logRemoteErr("connecting to "+orig.String()+" from the target", err)
		c.fail(err, unix.ECONNREFUSED)
		return
	}
	ln, err := listenTCPRelay(k.dom, orig)
	if err != nil {
		conn.Close()
		s.log.Warn("starting a local relay failed", "err", err)
		c.fail(err, unix.EIO)
		return
	}
	if err := c.valid(); err != nil {
		ln.Close()
		conn.Close()
		return
	}
	cerr := connectFD(k, relayAddr(ln.Addr(), k.dom))
	if cerr != nil && cerr != unix.EINPROGRESS {
		ln.Close()
		conn.Close()
		c.fail(cerr, unix.ECONNREFUSED)
		return
	}
	s.socks.setPeer(k.ino, orig)
	app := appAddr(k.fd, unmapAP(relayAddr(ln.Addr(), k.dom)))
	s.wg.Add(1)
	go s.relayTCP(ln, app, conn, k.ino, orig)
	if cerr != nil {
		c.failErrno(unix.EINPROGRESS)
		return
	}
	c.ret(0)
}

func (s *Supervisor) connectUDP(ctx context.Context, c *call, k sock, orig netip.AddrPort) {
	r, err := s.newUDPRelay(ctx, c, k, orig)
	if err != nil {
		c.fail(err, unix.ENETUNREACH)
		return
	}
	if err := c.valid(); err != nil {
		r.close()
		return
	}
	if err := connectFD(k, r.addrFor(k.dom)); err != nil {
		r.close()
		c.fail(err, unix.ENETUNREACH)
		return
	}
	r.app = appAddr(k.fd, r.addr)
	s.socks.setPeer(k.ino, orig)
	s.socks.addSource(k.ino, r.addr, orig)
	s.startUDPRelay(r, k.ino, func() {
		s.socks.forgetPeer(k.ino, orig)
		s.socks.dropSource(k.ino, r.addr)
	})
	c.ret(0)
}

func (s *Supervisor) handleGetpeername(c *call) {
	k, ok := sockFor(c, 0, nil)
	if !ok {
		return
	}
	k.close()
	peer, ok := s.socks.peer(k.ino)
	if !ok {
		c.cont()
		return
	}
	// An IPv6 client of an IPv4 socket (a stolen connection) cannot be
	// shown as is: retAddr fits it to the socket's family.
	if err := c.retAddr(1, k.dom, peer); err != nil {
		c.fail(err, unix.EFAULT)
		return
	}
	c.ret(0)
}

// handleSendto serves UDP sendto with an address (unconnected resolvers
// such as musl's): the datagram goes to a relay for that destination,
// and replies come back from it.
func (s *Supervisor) handleSendto(c *call) {
	sa, err := c.p.ReadSockaddr(c.arg(4), c.arg(5))
	if err != nil || (sa.Family != unix.AF_INET && sa.Family != unix.AF_INET6) {
		if !errors.Is(err, target.ErrGone) {
			c.cont()
		}
		return
	}
	k, ok := sockFor(c, 0, func(k sock) bool { return k.proto == netfilter.UDP && k.inet() })
	if !ok {
		return
	}
	s.withDecision(c, k, sa.AddrPort, func(ctx context.Context, remote bool) {
		if !remote {
			k.close()
			c.cont()
			return
		}
		c.async(func(ctx context.Context) {
			defer k.close()
			s.sendtoRemote(ctx, c, k, sa.AddrPort)
		})
	})
}

func (s *Supervisor) sendtoRemote(ctx context.Context, c *call, k sock, orig netip.AddrPort) {
	payload := make([]byte, min(c.arg(2), 65536))
	if err := c.p.Read(c.arg(1), payload); err != nil {
		c.fail(err, unix.EFAULT)
		return
	}
	n, err, def := s.udpSendRemote(ctx, c, k, orig, payload, int(c.arg(3)))
	if err != nil {
		c.fail(err, def)
		return
	}
	c.ret(int64(n))
}

// udpSendRemote sends one datagram of the program's socket k to orig
// through the relay of that socket and destination (made on first use).
// def is the errno to report when err carries none.
func (s *Supervisor) udpSendRemote(ctx context.Context, c *call, k sock, orig netip.AddrPort, payload []byte, flags int) (n int, err error, def unix.Errno) {
	key := udpKey{k.ino, unmapAP(orig)}
	e := s.socks.udpEntry(key)
	fresh := false
	e.once.Do(func() {
		fresh = true
		e.relay, e.err = s.newUDPRelay(ctx, c, k, orig)
	})
	if e.err != nil {
		s.socks.dropUDP(key, e)
		return 0, e.err, unix.ENETUNREACH
	}
	err = unix.Sendto(k.fd, payload, flags&^unix.MSG_CONFIRM, target.ToUnix(k.dom, e.relay.addrFor(k.dom)))
	if fresh {
		e.relay.app = appAddr(k.fd, e.relay.addr)
		s.socks.addSource(k.ino, e.relay.addr, orig)
		s.startUDPRelay(e.relay, k.ino, func() {
			s.socks.dropUDP(key, e)
			s.socks.dropSource(k.ino, e.relay.addr)
		})
	}
	if err != nil {
		return 0, err, unix.EIO
	}
	return len(payload), nil, 0
}

// handleRecvfrom rewrites the source address of datagrams that came
// through a relay to the address the program sent to, which resolvers
// such as musl and c-ares check.
func (s *Supervisor) handleRecvfrom(c *call) {
	k, ok := sockFor(c, 0, func(k sock) bool { return s.socks.hasSources(k.ino) })
	if !ok {
		return
	}
	c.async(func(ctx context.Context) {
		defer k.close()
		s.recvfrom(ctx, c, k)
	})
}

func (s *Supervisor) recvfrom(ctx context.Context, c *call, k sock) {
	size := min(c.arg(2), 1<<20)
	flags := int(c.arg(3))
	fl, _ := unix.FcntlInt(uintptr(k.fd), unix.F_GETFL, 0)
	nonblock := flags&unix.MSG_DONTWAIT != 0 || fl&unix.O_NONBLOCK != 0
	var deadline time.Time
	if tv, err := unix.GetsockoptTimeval(k.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO); err == nil && (tv.Sec != 0 || tv.Usec != 0) {
		deadline = time.Now().Add(time.Duration(tv.Nano()))
	}
	buf := make([]byte, size)
	for {
		n, from, err := unix.Recvfrom(k.fd, buf, flags|unix.MSG_DONTWAIT)
		if err == unix.EAGAIN && !nonblock {
			// Wait in slices, so that a caller that goes away (or the end
			// of the session) does not leave us blocked on its socket.
			if !deadline.IsZero() && time.Now().After(deadline) {
				c.failErrno(unix.EAGAIN)
				return
			}
			pf := []unix.PollFd{{Fd: int32(k.fd), Events: unix.POLLIN}}
			_, _ = unix.Poll(pf, 100)
			if ctx.Err() != nil || c.valid() != nil {
				return
			}
			continue
		}
		if err != nil {
			c.fail(err, unix.EIO)
			return
		}
		src := target.FromUnix(from)
		if orig, ok := s.socks.original(k.ino, src); ok {
			src = orig
		}
		m, err := c.p.OpenMem()
		if err != nil {
			c.fail(err, unix.EFAULT)
			return
		}
		defer m.Close()
		werr := m.Write(c.arg(1), buf[:min(n, len(buf))])
		if werr == nil && src.IsValid() {
			werr = m.WriteSockaddrOut(c.p, c.arg(4), c.arg(5), target.EncodeInet(k.dom, src))
		}
		if werr != nil {
			c.fail(werr, unix.EFAULT)
			return
		}
		c.ret(int64(n))
		return
	}
}
