package supervisor

import (
	"context"
	"fmt"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/schema"
)

const (
	resolvConfPath = "/etc/resolv.conf"
	hostnamePath   = "/etc/hostname"
)

func (s *Supervisor) fetchHostname(ctx context.Context) (string, error) {
	var r protocol.HostnameResponse
	if err := s.remote.Call(ctx, protocol.KindHostname, protocol.HostnameRequest{}, &r); err != nil {
		return "", fmt.Errorf("asking the agent for the target's hostname: %w", err)
	}
	return r.Hostname, nil
}

func (s *Supervisor) fetchResolvConf(ctx context.Context) (protocol.ResolvConf, error) {
	var r protocol.ResolvConf
	if err := s.remote.Call(ctx, protocol.KindResolvConf, protocol.ResolvConfRequest{}, &r); err != nil {
		return r, fmt.Errorf("asking the agent for the target's DNS configuration: %w", err)
	}
	return r, nil
}

// handleUname reports the pod's hostname as the node name; the other
// fields (kernel, machine) are the local machine's, which is what the
// program runs on.
func (s *Supervisor) handleUname(c *call) {
	if h, err, ok := s.hostname.ready(); ok {
		s.answerUname(c, h, err)
		return
	}
	c.async(func(ctx context.Context) {
		h, err := s.hostname.get(ctx, s)
		s.answerUname(c, h, err)
	})
}

func (s *Supervisor) answerUname(c *call, host string, err error) {
	if err != nil {
		s.warnOnce("hostname", "the target's hostname is unavailable; the program sees the local one", "err", err)
		c.cont()
		return
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		c.cont()
		return
	}
	clear(u.Nodename[:])
	copy(u.Nodename[:len(u.Nodename)-1], host)
	b := unsafe.Slice((*byte)(unsafe.Pointer(&u)), unsafe.Sizeof(u))
	if err := c.p.Write(c.arg(0), b); err != nil {
		c.fail(err, unix.EFAULT)
		return
	}
	c.ret(0)
}

// isSpecial reports paths the supervisor generates itself instead of
// reading them on the target.
func (s *Supervisor) isSpecial(p string) bool {
	f := s.cfg.Features
	switch p {
	case resolvConfPath:
		return f.Network.DNS.Enabled
	case hostnamePath:
		return f.Hostname && s.router.Mode() != schema.FSLocal
	}
	return false
}

// serveSpecial answers opens of /etc/resolv.conf and /etc/hostname:
//   - resolv.conf follows feature.network.dns, whatever the fs mode: with
//     DNS on it is generated from the pod's configuration, so every
//     resolver (glibc, musl, Go's, c-ares) sends its queries to the pod's
//     nameserver, which the connect handler routes through the agent; with
//     DNS off it is the local file.
//   - hostname is the pod's when feature.hostname is on and files are not
//     all local.
//
// It returns false when the path is not special.
// isSpecial reports whether serveSpecial may answer an open of p.
func isSpecial(p string) bool { return p == resolvConfPath || p == hostnamePath }

func (s *Supervisor) serveSpecial(c *call, p string, cloexec bool) bool {
	f := s.cfg.Features
	switch p {
	case resolvConfPath:
		if !f.Network.DNS.Enabled {
			c.cont()
			return true
		}
		c.async(func(ctx context.Context) {
			rc, err := s.resolv.get(ctx, s)
			if err != nil {
				s.warnOnce("resolvconf", "the target's DNS configuration is unavailable; names resolve locally", "err", err)
				c.cont()
				return
			}
			s.injectBytes(c, "mirrord:resolv.conf", []byte(renderResolvConf(rc)), cloexec)
		})
		return true
	case hostnamePath:
		if !f.Hostname || s.router.Mode() == schema.FSLocal {
			return false
		}
		c.async(func(ctx context.Context) {
			h, err := s.hostname.get(ctx, s)
			if err != nil {
				c.cont()
				return
			}
			s.injectBytes(c, "mirrord:hostname", []byte(h+"\n"), cloexec)
		})
		return true
	}
	return false
}

func renderResolvConf(rc protocol.ResolvConf) string {
	var b strings.Builder
	b.WriteString("# The target pod's DNS configuration, served by mirrord.\n")
	for _, ns := range rc.Nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(rc.Search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.Search, " "))
	}
	if rc.Ndots > 0 {
		fmt.Fprintf(&b, "options ndots:%d\n", rc.Ndots)
	}
	return b.String()
}

// isNameserver reports whether ap is port 53 of one of the pod's
// nameservers (known once resolv.conf has been served).
func (s *Supervisor) isNameserver(ip string) bool {
	rc, err, ok := s.resolv.ready()
	if !ok || err != nil {
		return false
	}
	for _, ns := range rc.Nameservers {
		if ns == ip {
			return true
		}
	}
	return false
}
