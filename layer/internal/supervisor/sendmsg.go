package supervisor

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/layer/internal/netfilter"
	"github.com/mirrord-go/mirrord/layer/internal/target"
)

// sendmsg and sendmmsg carry their destination inside struct msghdr,
// which BPF cannot read, so they are trapped whenever outgoing UDP is on.
// libuv (Node) sends every UDP datagram with them; a call on a connected
// socket (msg_name NULL, as glibc's resolver does) goes on at once.

// struct msghdr on LP64 (amd64, arm64): name, namelen, iov, iovlen,
// control, controllen, flags; struct mmsghdr adds msg_len.
const (
	msghdrSize  = 56
	mmsghdrSize = 64
	iovecSize   = 16
	maxIOV      = 1024 // UIO_MAXIOV
	maxMmsg     = 1024
)

type msghdr struct {
	name    uint64
	namelen uint64
	iov     uint64
	iovlen  uint64
}

func readMsghdr(c *call, addr uint64) (msghdr, error) {
	b := make([]byte, msghdrSize)
	if err := c.p.Read(addr, b); err != nil {
		return msghdr{}, err
	}
	le := binary.NativeEndian
	return msghdr{name: le.Uint64(b[0:]), namelen: uint64(le.Uint32(b[8:])), iov: le.Uint64(b[16:]), iovlen: le.Uint64(b[24:])}, nil
}

// payload gathers the datagram from the message's iovecs.
func (m msghdr) payload(c *call) ([]byte, error) {
	if m.iovlen > maxIOV {
		return nil, unix.EMSGSIZE
	}
	vec := make([]byte, m.iovlen*iovecSize)
	if err := c.p.Read(m.iov, vec); err != nil {
		return nil, err
	}
	var out []byte
	for i := range m.iovlen {
		base := binary.NativeEndian.Uint64(vec[i*iovecSize:])
		n := binary.NativeEndian.Uint64(vec[i*iovecSize+8:])
		if uint64(len(out))+n > 65536 {
			return nil, unix.EMSGSIZE
		}
		part := make([]byte, n)
		if err := c.p.Read(base, part); err != nil {
			return nil, err
		}
		out = append(out, part...)
	}
	return out, nil
}

// udpMessage decides whether a message's destination goes through the
// pod; ok is false when the call was answered (or must go on).
func (s *Supervisor) udpMessage(c *call, m msghdr) (k sock, sa target.Sockaddr, ok bool) {
	if m.name == 0 {
		c.cont()
		return sock{}, sa, false
	}
	sa, err := c.p.ReadSockaddr(m.name, m.namelen)
	if err != nil || (sa.Family != unix.AF_INET && sa.Family != unix.AF_INET6) {
		if !errors.Is(err, target.ErrGone) {
			c.cont()
		}
		return sock{}, sa, false
	}
	k, err = getSock(c, int(c.arg(0)))
	if err != nil || k.proto != netfilter.UDP || !k.inet() {
		k.close()
		if !errors.Is(err, target.ErrGone) {
			c.cont()
		}
		return sock{}, sa, false
	}
	return k, sa, true
}

func (s *Supervisor) handleSendmsg(c *call) {
	s.sendThroughPod(c, c.arg(1), func(ctx context.Context, k sock, sa target.Sockaddr, m msghdr) {
		payload, err := m.payload(c)
		if err != nil {
			c.fail(err, unix.EFAULT)
			return
		}
		n, err, def := s.udpSendRemote(ctx, c, k, sa.AddrPort, payload, int(c.arg(2)))
		if err != nil {
			c.fail(err, def)
			return
		}
		c.ret(int64(n))
	})
}

// sendThroughPod reads the message header at hdr and lets the call go on
// unless the filter sends its destination through the pod; then send
// answers the call, off the notification loop, with the socket k (closed
// after send).
func (s *Supervisor) sendThroughPod(c *call, hdr uint64, send func(ctx context.Context, k sock, sa target.Sockaddr, m msghdr)) {
	m, err := readMsghdr(c, hdr)
	if err != nil {
		if !errors.Is(err, target.ErrGone) {
			c.cont()
		}
		return
	}
	k, sa, ok := s.udpMessage(c, m)
	if !ok {
		return
	}
	s.throughPod(c, k, sa.AddrPort, func(ctx context.Context) { send(ctx, k, sa, m) })
}

// throughPod lets the call go on when the filter keeps to's traffic local;
// otherwise f answers it off the notification loop. k is closed either way.
func (s *Supervisor) throughPod(c *call, k sock, to netip.AddrPort, f func(ctx context.Context)) {
	s.withDecision(c, k, to, func(ctx context.Context, remote bool) {
		if !remote {
			k.close()
			c.cont()
			return
		}
		c.async(func(ctx context.Context) {
			defer k.close()
			f(ctx)
		})
	})
}

// handleSendmmsg decides on the first message's destination and, when it
// is remote, sends every message through the pod, each to its own address.
func (s *Supervisor) handleSendmmsg(c *call) {
	vec, vlen := c.arg(1), min(c.arg(2), maxMmsg)
	if vlen == 0 {
		c.cont()
		return
	}
	s.sendThroughPod(c, vec, func(ctx context.Context, k sock, _ target.Sockaddr, _ msghdr) {
		sent := int64(0)
		var firstErr error
		def := unix.EIO
		for i := range vlen {
			at := vec + i*mmsghdrSize
			m, err := readMsghdr(c, at)
			if err == nil && m.name == 0 {
				err = unix.EDESTADDRREQ
			}
			var to target.Sockaddr
			if err == nil {
				to, err = c.p.ReadSockaddr(m.name, m.namelen)
			}
			var payload []byte
			if err == nil {
				payload, err = m.payload(c)
			}
			var n int
			if err == nil {
				n, err, def = s.udpSendRemote(ctx, c, k, to.AddrPort, payload, int(c.arg(3)))
			}
			if err == nil {
				err = c.p.Write(at+msghdrSize, binary.NativeEndian.AppendUint32(nil, uint32(n)))
			}
			if err != nil {
				firstErr = err
				break
			}
			sent++
		}
		if sent == 0 && firstErr != nil {
			c.fail(firstErr, def)
			return
		}
		c.ret(sent)
	})
}
