package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/layer/internal/netfilter"
	"github.com/mirrord-go/mirrord/layer/internal/target"
)

// streamOpener is the part of the agent session that opens raw streams;
// *protocol.Client has it.
type streamOpener interface {
	Open(ctx context.Context, h protocol.StreamHeader) (net.Conn, protocol.StreamReply, error)
}

// compileUnixStreams compiles feature.network.outgoing.unix_streams.
func compileUnixStreams(list []string) ([]*regexp.Regexp, error) {
	var out []*regexp.Regexp
	for _, s := range list {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("feature.network.outgoing.unix_streams: %q: %w", s, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func (s *Supervisor) unixRemote(p string) bool {
	for _, re := range s.unixRe {
		if re.MatchString(p) {
			return true
		}
	}
	return false
}

// handleUnixConnect serves connect() to a unix stream socket that
// unix_streams sends to the pod: the agent connects to the socket in the
// target, and the program's own socket is connected to a relay (an
// abstract unix socket with a random name) that pipes to that stream. It
// returns false when the path stays local.
func (s *Supervisor) handleUnixConnect(c *call, sa target.Sockaddr) bool {
	if len(s.unixRe) == 0 || sa.Path == "" {
		return false
	}
	p := sa.Path
	if p[0] != '@' && !path.IsAbs(p) {
		cwd, err := c.p.Cwd()
		if err != nil {
			return false
		}
		p = path.Join(cwd, p)
	}
	if !s.unixRemote(sa.Path) && !s.unixRemote(p) {
		return false
	}
	k, err := getSock(c, int(c.arg(0)))
	if err != nil || k.dom != unix.AF_UNIX || k.proto != netfilter.TCP {
		// Only streams: datagram and seqpacket sockets stay local.
		k.close()
		if errors.Is(err, target.ErrGone) {
			return true
		}
		return false
	}
	opener, ok := s.remote.(streamOpener)
	if !ok {
		k.close()
		return false
	}
	if s.debug {
		s.log.Debug("unix connect", "path", p, "remote", true)
	}
	c.async(func(ctx context.Context) {
		defer k.close()
		rctx, cancel := c.remoteCtx(ctx)
		defer cancel()
		conn, _, err := opener.Open(rctx, protocol.StreamHeader{Kind: protocol.StreamUnix, Addr: p})
		if err != nil {
			c.logRemoteErr("connecting to unix socket "+p+" in the target", err)
			c.fail(err, unix.ECONNREFUSED)
			return
		}
		name, ln, err := listenUnixRelay()
		if err != nil {
			conn.Close()
			s.log.Warn("starting a local unix relay failed", "err", err)
			c.fail(err, unix.EIO)
			return
		}
		if err := c.valid(); err != nil {
			ln.Close()
			conn.Close()
			return
		}
		cerr := unix.Connect(k.fd, &unix.SockaddrUnix{Name: name})
		if cerr != nil && cerr != unix.EINPROGRESS && cerr != unix.EAGAIN {
			ln.Close()
			conn.Close()
			c.fail(cerr, unix.ECONNREFUSED)
			return
		}
		s.wg.Add(1)
		go s.relayUnix(ln, conn, p)
		c.ret(0)
	})
	return true
}

// listenUnixRelay listens on a fresh abstract unix socket: nothing to
// clean up on disk, and the random name keeps others out.
func listenUnixRelay() (string, *net.UnixListener, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	name := "@mirrord-relay-" + hex.EncodeToString(b)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: name, Net: "unix"})
	return name, ln, err
}

func (s *Supervisor) relayUnix(ln *net.UnixListener, agent net.Conn, p string) {
	defer s.wg.Done()
	_ = ln.SetDeadline(time.Now().Add(relayAcceptTimeout))
	stopLn := context.AfterFunc(s.ctx, func() { ln.Close() })
	conn, err := ln.AcceptUnix()
	stopLn()
	ln.Close()
	if err != nil {
		agent.Close()
		if s.ctx.Err() == nil {
			s.log.Warn("the program's unix connection never reached its relay", "to", p, "err", err)
		}
		return
	}
	stop := context.AfterFunc(s.ctx, func() {
		conn.Close()
		agent.Close()
	})
	defer stop()
	if err := protocol.Pipe(conn, agent); err != nil && s.debug {
		s.log.Debug("unix relay ended", "to", p, "err", err)
	}
}
