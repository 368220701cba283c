package supervisor

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

const (
	// relayAcceptTimeout bounds the wait for the program's socket to reach
	// its relay; the handshake is local, so this only trips on a bug.
	relayAcceptTimeout = 10 * time.Second
	// udpIdle ends a UDP relay nobody used for this long: UDP has no close
	// the supervisor could see.
	udpIdle    = 60 * time.Second
	dnsUDPIdle = 10 * time.Second
)

var (
	loop4 = netip.MustParseAddr("127.0.0.1")
	loop6 = netip.IPv6Loopback()
)

// listenTCPRelay listens on loopback in the family of the destination the
// program asked for (falling back to IPv4 when the namespace has no ::1;
// an IPv6 socket then reaches it v4-mapped). An IPv6 socket connecting to
// a v4-mapped address must see a v4-mapped local address in getsockname:
// glibc's getaddrinfo asserts it when it sorts results.
func listenTCPRelay(dom int, orig netip.AddrPort) (*net.TCPListener, error) {
	if dom == unix.AF_INET6 && !orig.Addr().Unmap().Is4() {
		if ln, err := net.ListenTCP("tcp6", &net.TCPAddr{IP: loop6.AsSlice()}); err == nil {
			return ln, nil
		}
	}
	return net.ListenTCP("tcp4", &net.TCPAddr{IP: loop4.AsSlice()})
}

// relayAddr is the relay's address as the program's socket must dial it.
func relayAddr(a net.Addr, dom int) netip.AddrPort {
	var ap netip.AddrPort
	switch a := a.(type) {
	case *net.TCPAddr:
		ap = a.AddrPort()
	case *net.UDPAddr:
		ap = a.AddrPort()
	}
	ap = unmapAP(ap)
	if dom == unix.AF_INET6 && ap.Addr().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	return ap
}

// relayTCP accepts the program's socket on ln (and only it: anything else
// on the machine that finds the port is turned away) and pipes it to the
// agent stream.
func (s *Supervisor) relayTCP(ln *net.TCPListener, app netip.AddrPort, agent net.Conn, ino uint64, orig netip.AddrPort) {
	defer s.wg.Done()
	defer s.socks.forgetPeer(ino, orig)
	_ = ln.SetDeadline(time.Now().Add(relayAcceptTimeout))
	stopLn := context.AfterFunc(s.ctx, func() { ln.Close() })
	var conn *net.TCPConn
	for conn == nil {
		cc, err := ln.AcceptTCP()
		if err != nil {
			stopLn()
			ln.Close()
			agent.Close()
			if s.ctx.Err() == nil {
				s.log.Warn("the program's connection never reached its relay", "to", orig, "err", err)
			}
			return
		}
		if unmapAP(cc.RemoteAddr().(*net.TCPAddr).AddrPort()) == app {
			conn = cc
		} else {
			cc.Close()
		}
	}
	stopLn()
	ln.Close()
	stop := context.AfterFunc(s.ctx, func() {
		conn.Close()
		agent.Close()
	})
	defer stop()
	if err := protocol.Pipe(conn, agent); err != nil && s.debug {
		s.log.Debug("relay ended", "to", orig, "err", err)
	}
}

// udpRelay is a loopback UDP socket the program's socket talks to, and the
// agent's UDP stream behind it.
type udpRelay struct {
	pc    *net.UDPConn
	agent net.Conn
	addr  netip.AddrPort // unmapped
	app   netip.AddrPort // the program's socket, set before start
	// query, for relays to port 53 under a dns.filter, answers the
	// queries the filter keeps local (true) instead of sending them.
	query func(q []byte) bool
	idle  time.Duration
	last  atomic.Int64
	once  sync.Once
}

func (s *Supervisor) newUDPRelay(ctx context.Context, c *call, k sock, orig netip.AddrPort) (*udpRelay, error) {
	rctx, cancel := c.remoteCtx(ctx)
	defer cancel()
	conn, err := s.remote.DialUDP(rctx, dialAddr(orig))
	if err != nil {
		c.logRemoteErr("UDP to "+orig.String()+" from the target", err)
		return nil, err
	}
	var pc *net.UDPConn
	if k.dom == unix.AF_INET6 && !orig.Addr().Unmap().Is4() { // see listenTCPRelay
		pc, err = net.ListenUDP("udp6", &net.UDPAddr{IP: loop6.AsSlice()})
	}
	if pc == nil {
		pc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: loop4.AsSlice()})
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	r := &udpRelay{pc: pc, agent: conn, addr: unmapAP(pc.LocalAddr().(*net.UDPAddr).AddrPort()), idle: udpIdle}
	if orig.Port() == 53 {
		r.idle = dnsUDPIdle
		if s.dnsf != nil {
			r.query = func(q []byte) bool { return s.routeQuery(r, q) }
		}
	}
	return r, nil
}

func (r *udpRelay) addrFor(dom int) netip.AddrPort {
	return relayAddr(net.UDPAddrFromAddrPort(r.addr), dom)
}

func (r *udpRelay) close() {
	r.once.Do(func() {
		r.pc.Close()
		r.agent.Close()
	})
}

func (r *udpRelay) touch() { r.last.Store(time.Now().UnixNano()) }

// startUDPRelay runs the relay until it idles out or Serve ends; done
// runs after.
func (s *Supervisor) startUDPRelay(r *udpRelay, ino uint64, done func()) {
	r.touch()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer done()
		defer r.close()
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { // program → pod
			defer wg.Done()
			defer r.close()
			buf := make([]byte, 65536)
			for {
				n, from, err := r.pc.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				if unmapAP(from) != r.app {
					continue
				}
				r.touch()
				if r.query != nil && r.query(buf[:n]) {
					continue
				}
				if _, err := r.agent.Write(buf[:n]); err != nil {
					return
				}
			}
		}()
		go func() { // pod → program
			defer wg.Done()
			defer r.close()
			buf := make([]byte, 65536)
			to := net.UDPAddrFromAddrPort(r.app)
			for {
				n, err := r.agent.Read(buf)
				if err != nil {
					return
				}
				r.touch()
				if _, err := r.pc.WriteToUDP(buf[:n], to); err != nil {
					return
				}
			}
		}()
		t := time.NewTicker(r.idle / 4)
		defer t.Stop()
		ended := make(chan struct{})
		go func() { wg.Wait(); close(ended) }()
		for {
			select {
			case <-ended:
				return
			case <-s.ctx.Done():
				r.close()
				<-ended
				return
			case <-t.C:
				if time.Since(time.Unix(0, r.last.Load())) > r.idle {
					r.close()
					<-ended
					return
				}
			}
		}
	}()
}
