//go:build linux

// Package sniff copies incoming TCP connections of a target pod by passive
// packet capture, for mirror mode: the developer's app gets the bytes each
// client sends to a watched port, while the original connection goes on
// to the pod's app untouched. Nothing is redirected, so the pod's traffic
// takes its usual path at its usual speed; the agent is only a bystander.
// Upstream mirrord 3.250.0 mirrors through the same iptables redirect as
// steal instead, which puts the agent in the path of every mirrored
// connection (a proxy hop, and a broken connection if the agent dies).
//
// An AF_PACKET socket in the target's network namespace sees every packet
// of every interface, lo included. A classic BPF filter in the kernel
// keeps only TCP to or from the watched ports, so other traffic is never
// copied to the agent. The capture loop parses packets with gopacket's
// layers, rebuilds each client's byte stream (reassembly.go) and hands it
// to a per-connection writer goroutine (copier.go) through a bounded
// buffer: the loop never waits for a consumer, and the kernel never waits
// for the loop (when the socket's queue is full it drops packets for this
// socket only).
//
// A connection is copied only if its handshake is seen after Watch: the
// server's SYN-ACK gives the first sequence number of the client's stream.
// A connection that was open before has no known start (where its next
// message begins is unknowable from the middle of a stream), so it is
// left alone.
//
// Each packet of lo passes the tap twice, once sent and once received;
// only the received copy is kept. On other interfaces (eth0, a veth) the
// client's packets arrive as received and the server's leave as sent, and
// both copies are needed: the client's for the bytes, the server's for
// its SYN-ACK (the start), its ACKs (loss detection) and its RST.
package sniff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
)

// Defaults of the Options tunables.
const (
	DefaultMaxBuffered = 4 << 20
	DefaultIdleTimeout = 2 * time.Minute
)

// Conn is one copied connection.
type Conn struct {
	Peer  netip.AddrPort // the client
	Local netip.AddrPort // the pod's address and watched port it connected to
}

// Handler is called when the pod's server answers a new connection to a
// watched port (its SYN-ACK). It returns where the client's bytes go, or
// nil to leave the connection alone.
//
// It runs on the capture goroutine, so it must not block: open slow
// things (streams to the developer's machine) lazily, in Write. Each
// Write gets bytes in order, exactly once; the copy ends with Close, on
// the client's FIN or RST, the server's RST, an idle timeout, a loss in
// the capture, or Sniffer.Close. Close may be called while a Write is
// blocked, to drop a consumer that fell behind, and must unblock it (as
// net.Conn and io.PipeWriter do).
type Handler func(c Conn) io.WriteCloser

// Options configure a Sniffer.
type Options struct {
	// NS is the target's network namespace.
	NS  nsenter.Namespace
	Log *slog.Logger
	// Handler is required.
	Handler Handler
	// MaxBuffered is the most bytes a copy may have waiting for its
	// consumer (and the most out-of-order bytes held behind a gap); past
	// it the copy is dropped and closed. Zero means DefaultMaxBuffered.
	MaxBuffered int
	// IdleTimeout ends a copy whose connection saw no packet for that
	// long. Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Sniffer captures the incoming connections of one network namespace.
type Sniffer struct {
	log         *slog.Logger
	handler     Handler
	maxBuffered int
	idle        time.Duration
	tickEvery   time.Duration

	f        *os.File
	raw      syscall.RawConn
	stopping atomic.Bool // set before f is closed: the loop's read error is expected

	// mu guards ports and conns. The capture loop holds it per packet
	// (never across a Handler call or a consumer's Write).
	mu     sync.Mutex
	closed bool
	ports  map[uint16]bool
	conns  map[flowKey]*stream

	// wg owns the writer goroutines and the closers of aborted copies.
	wg        sync.WaitGroup
	loopDone  chan struct{}
	loopErr   error
	stopCtx   func() bool
	closeOnce sync.Once
	closeErr  error

	// yield asks the capture loop to let other goroutines run: a copy's
	// buffer is filling. Owned by the capture loop.
	yield bool

	stats stats
}

// stats are counters for the tests and the logs.
type stats struct {
	packets    atomic.Int64 // read from the socket
	loOutgoing atomic.Int64 // lo's sent copies that reached Go (the filter drops them)
	truncated  atomic.Int64
	dupBytes   atomic.Int64 // client bytes seen more than once
	drops      atomic.Int64 // dropped by the kernel for this socket
}

// flowKey names a connection by its client and server ends.
type flowKey struct{ client, server netip.AddrPort }

// stream is one copied connection, owned by the capture loop under mu.
type stream struct {
	conn     Conn
	start    uint32 // the client's first sequence number, from the SYN-ACK
	r        *reassembler
	out      *copier
	lastSeen time.Time
}

// Open starts capturing in o.NS. Nothing is copied until Watch. The
// sniffer runs until Close, or until ctx is done.
func Open(ctx context.Context, o Options) (*Sniffer, error) {
	if o.Handler == nil {
		return nil, errors.New("sniff: Options.Handler is required")
	}
	s := &Sniffer{
		log:         o.Log,
		handler:     o.Handler,
		maxBuffered: o.MaxBuffered,
		idle:        o.IdleTimeout,
		ports:       map[uint16]bool{},
		conns:       map[flowKey]*stream{},
		loopDone:    make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBuffered <= 0 {
		s.maxBuffered = DefaultMaxBuffered
	}
	if s.idle <= 0 {
		s.idle = DefaultIdleTimeout
	}
	s.tickEvery = min(time.Second, s.idle/4)
	f, err := openSocket(o.NS)
	if err != nil {
		return nil, fmt.Errorf("sniff: opening the capture in %s: %w", nsName(o.NS), err)
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sniff: %w", err)
	}
	s.f, s.raw = f, raw
	go func() {
		defer close(s.loopDone)
		s.loopErr = s.run()
	}()
	s.stopCtx = context.AfterFunc(ctx, func() { _ = s.Close() })
	return s, nil
}

func nsName(ns nsenter.Namespace) string {
	if ns.Own() {
		return "the agent's network namespace"
	}
	return ns.Path
}

// Watch starts copying new connections to port.
func (s *Sniffer) Watch(port uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ports[port] {
		return
	}
	s.ports[port] = true
	s.updateFilter()
}

// Unwatch stops copying port: new connections are left alone and the
// copies of its open ones are finished (what is buffered is written, then
// they are closed), since the filter no longer passes their packets.
func (s *Sniffer) Unwatch(port uint16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.ports[port] {
		return
	}
	delete(s.ports, port)
	s.updateFilter()
	for k, st := range s.conns {
		if st.conn.Local.Port() == port {
			st.out.finish()
			delete(s.conns, k)
		}
	}
}

// updateFilter installs the filter for the current ports. s.mu is held.
func (s *Sniffer) updateFilter() {
	ports := slices.Collect(maps.Keys(s.ports))
	var ferr error
	err := s.raw.Control(func(fd uintptr) { ferr = attachFilter(int(fd), ports) })
	if err == nil {
		err = ferr
	}
	if err != nil && len(ports) > 0 {
		// Fall back to all TCP: Go still selects the ports.
		s.log.Warn("the packet filter for the watched ports failed; capturing all TCP", "ports", ports, "error", err)
		_ = s.raw.Control(func(fd uintptr) { _ = attachFilter(int(fd), make([]uint16, maxFilterPorts+1)) })
	}
}

// Close stops the capture and closes every open copy at once (bytes still
// buffered for a consumer are dropped). It waits for all the sniffer's
// goroutines, and returns the capture loop's error, if it failed.
func (s *Sniffer) Close() error {
	s.closeOnce.Do(func() {
		s.stopCtx()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.stopping.Store(true)
		err := s.f.Close() // ends the loop's read
		<-s.loopDone
		s.mu.Lock()
		for k, st := range s.conns {
			st.out.abort(s.wg.Go)
			delete(s.conns, k)
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.closeErr = errors.Join(s.loopErr, err)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sniff: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// run is the capture loop.
func (s *Sniffer) run() error {
	buf := make([]byte, snapLen)
	p := newParser()
	next := time.Now().Add(s.tickEvery)
	_ = s.f.SetReadDeadline(next)
	for {
		n, sa, err := s.read(buf)
		now := time.Now()
		switch {
		case err == nil:
			s.packet(p, buf[:min(n, len(buf))], n > len(buf), sa, now)
			if s.yield {
				// A woken writer waits in this P's run queue while the
				// loop keeps finding packets: step aside, or a consumer
				// that keeps up would be dropped for want of CPU. The
				// kernel goes on queueing packets meanwhile.
				s.yield = false
				runtime.Gosched()
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
		case s.stopping.Load():
			return nil
		default:
			s.log.Error("capture stopped: reading the packet socket failed", "error", err)
			return fmt.Errorf("reading the packet socket: %w", err)
		}
		if !now.Before(next) {
			s.tick(now)
			next = now.Add(s.tickEvery)
			_ = s.f.SetReadDeadline(next)
		}
	}
}

// read returns one packet (n is its full length, which may exceed buf)
// and where it was seen.
func (s *Sniffer) read(buf []byte) (int, *unix.SockaddrLinklayer, error) {
	var (
		n    int
		from unix.Sockaddr
		rerr error
	)
	err := s.raw.Read(func(fd uintptr) bool {
		for {
			n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_TRUNC)
			if rerr != unix.EINTR {
				return rerr != unix.EAGAIN
			}
		}
	})
	if err != nil {
		return 0, nil, err
	}
	if rerr != nil {
		return 0, nil, os.NewSyscallError("recvfrom", rerr)
	}
	sa, _ := from.(*unix.SockaddrLinklayer)
	return n, sa, nil
}

// packet handles one captured packet.
func (s *Sniffer) packet(p *parser, data []byte, truncated bool, sa *unix.SockaddrLinklayer, now time.Time) {
	s.stats.packets.Add(1)
	if sa == nil {
		return
	}
	lo := sa.Hatype == unix.ARPHRD_LOOPBACK
	switch sa.Pkttype {
	case unix.PACKET_HOST:
	case unix.PACKET_OUTGOING:
		if lo {
			s.stats.loOutgoing.Add(1)
			return
		}
	default:
		return // broadcast, multicast, another host's (promiscuous)
	}
	if truncated {
		// Its bytes are unknown: if it mattered, the server's ACK of
		// them tells its stream that they were lost.
		s.stats.truncated.Add(1)
		return
	}
	seg, ok := p.parse(data)
	if !ok {
		return
	}
	// Sent by this namespace: the server's side of an incoming connection.
	sentHere := sa.Pkttype == unix.PACKET_OUTGOING || lo

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if st := s.conns[flowKey{seg.src, seg.dst}]; st != nil {
		s.fromClient(st, seg, now)
		s.mu.Unlock()
		return
	}
	key := flowKey{client: seg.dst, server: seg.src}
	if st := s.conns[key]; st != nil && !s.fromServer(st, seg, now) {
		s.mu.Unlock()
		return
	}
	isNew := seg.syn && seg.hasAck && !seg.rst && sentHere && s.ports[seg.src.Port()]
	s.mu.Unlock()
	if isNew {
		s.accept(key, seg.ack, now)
	}
}

// accept starts copying a connection whose SYN-ACK was just seen.
func (s *Sniffer) accept(key flowKey, next uint32, now time.Time) {
	c := Conn{Peer: key.client, Local: key.server}
	wc := s.handler(c)
	if wc == nil {
		return
	}
	log := s.log.With("peer", c.Peer, "local", c.Local)
	out := newCopier(wc, s.maxBuffered, log)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || !s.ports[c.Local.Port()] {
		// Unwatched or closed while the handler ran.
		out.abort(s.wg.Go)
		return
	}
	s.conns[key] = &stream{
		conn:     c,
		start:    next,
		r:        newReassembler(next, s.maxBuffered),
		out:      out,
		lastSeen: now,
	}
	s.wg.Go(out.run)
	log.Debug("copying a new connection")
}

// fromClient handles a packet of the client's half. s.mu is held.
func (s *Sniffer) fromClient(st *stream, seg tcpSegment, now time.Time) {
	st.lastSeen = now
	if seg.syn {
		return // a retransmitted SYN: the stream starts at its SYN-ACK
	}
	dup := st.r.dup
	var res result
	if seg.rst {
		res = st.r.reset(seg.seq)
	} else {
		res = st.r.add(seg.seq, seg.payload, seg.fin, st.out.push)
	}
	s.stats.dupBytes.Add(int64(st.r.dup - dup))
	switch res {
	case open:
		if len(seg.payload) > 0 && st.out.buffered() > s.maxBuffered/4 {
			s.yield = true
		}
	case done:
		s.end(st, "the client closed the connection")
	case overflow:
		s.lose(st, "too many bytes wait behind a gap in the capture")
	case refused:
		if st.out.isBroken() {
			s.end(st, "the consumer stopped")
		} else {
			st.out.log.Warn("the consumer is too slow; its copy of the connection is dropped (the connection itself is unaffected)",
				"max_buffered", s.maxBuffered)
			st.out.abort(s.wg.Go)
			delete(s.conns, flowKey{st.conn.Peer, st.conn.Local})
		}
	}
}

// fromServer handles a packet of the server's half. It returns true when
// the packet starts a new connection on the same addresses. s.mu is held.
func (s *Sniffer) fromServer(st *stream, seg tcpSegment, now time.Time) bool {
	st.lastSeen = now
	switch {
	case seg.rst:
		s.end(st, "the server reset the connection")
	case seg.syn && seg.hasAck && seg.ack != st.start:
		// The addresses were reused and the old connection's end missed.
		s.lose(st, "a new connection replaced it")
		return true
	case seg.hasAck && st.r.lost(seg.ack):
		s.lose(st, "the capture missed bytes the server received")
	}
	return false
}

// end finishes a copy whose connection ended. s.mu is held.
func (s *Sniffer) end(st *stream, why string) {
	st.out.log.Debug("copy ends", "why", why)
	st.out.finish()
	delete(s.conns, flowKey{st.conn.Peer, st.conn.Local})
}

// lose finishes a copy that cannot go on: what was copied is written and
// the copy closed early. s.mu is held.
func (s *Sniffer) lose(st *stream, why string) {
	st.out.log.Warn("the copy of the connection ends early", "why", why)
	st.out.finish()
	delete(s.conns, flowKey{st.conn.Peer, st.conn.Local})
}

// tick ends idle and broken copies and reports kernel drops.
func (s *Sniffer) tick(now time.Time) {
	var ts *unix.TpacketStats
	_ = s.raw.Control(func(fd uintptr) {
		// Reading the statistics resets them.
		ts, _ = unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if ts != nil && ts.Drops > 0 {
		s.stats.drops.Add(int64(ts.Drops))
		s.log.Warn("the kernel dropped packets for the capture (copies that missed bytes are closed early)", "drops", ts.Drops)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.conns {
		switch {
		case st.out.isBroken():
			delete(s.conns, k)
		case now.Sub(st.lastSeen) > s.idle:
			s.end(st, "idle")
		}
	}
}
