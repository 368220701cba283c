// Package netfilter decides whether an outgoing connection of the local
// program is made from the target pod or locally, from
// feature.network.outgoing (the tcp/udp toggles, ignore_localhost and the
// filter's `[proto://][host|ip|cidr][:port]` entries). It is pure: host
// names in the filter are resolved by a function the caller passes, which
// the supervisor backs with the agent's resolver so that a name means what
// it means in the cluster.
package netfilter

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/mirrord-go/mirrord/schema"
)

// Proto is a transport protocol.
type Proto string

// Protocols.
const (
	TCP Proto = "tcp"
	UDP Proto = "udp"
)

// Entry is one parsed filter entry. Zero fields match anything.
type Entry struct {
	Proto  Proto
	Name   string
	Prefix netip.Prefix
	Port   uint16
	Raw    string
}

// Parse parses `[tcp://|udp://][host|ip|cidr][:port]`.
func Parse(s string) (Entry, error) {
	e := Entry{Raw: s}
	rest := s
	if proto, after, ok := strings.Cut(rest, "://"); ok {
		switch Proto(proto) {
		case TCP, UDP:
			e.Proto = Proto(proto)
		default:
			return e, fmt.Errorf("%q: protocol must be tcp or udp", s)
		}
		rest = after
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return e, fmt.Errorf("%q: unclosed '['", s)
		}
		host, port = rest[1:end], strings.TrimPrefix(rest[end+1:], ":")
	} else if i := strings.LastIndex(rest, ":"); i >= 0 && strings.Count(rest, ":") == 1 {
		host, port = rest[:i], rest[i+1:]
	}
	if port != "" {
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return e, fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
		}
		e.Port = uint16(n)
	}
	switch {
	case host == "" && port == "":
		return e, fmt.Errorf("%q: expected [tcp://|udp://][host|ip|cidr][:port]", s)
	case host == "":
	case strings.Contains(host, "/"):
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return e, fmt.Errorf("%q: bad CIDR: %w", s, err)
		}
		e.Prefix = p.Masked()
	default:
		if ip, err := netip.ParseAddr(host); err == nil {
			e.Prefix = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		} else {
			e.Name = strings.ToLower(strings.TrimSuffix(host, "."))
		}
	}
	return e, nil
}

// Resolver resolves a host name (remotely, for the supervisor).
type Resolver func(ctx context.Context, name string) ([]netip.Addr, error)

// Match reports whether the entry covers a connection to ap.
func (e Entry) Match(ctx context.Context, proto Proto, ap netip.AddrPort, resolve Resolver) (bool, error) {
	if e.Proto != "" && e.Proto != proto {
		return false, nil
	}
	if e.Port != 0 && e.Port != ap.Port() {
		return false, nil
	}
	ip := ap.Addr().Unmap()
	switch {
	case e.Prefix.IsValid():
		return e.Prefix.Contains(ip), nil
	case e.Name != "":
		if resolve == nil {
			return false, nil
		}
		addrs, err := resolve(ctx, e.Name)
		if err != nil {
			return false, fmt.Errorf("resolving %q from the outgoing filter: %w", e.Name, err)
		}
		for _, a := range addrs {
			if a.Unmap() == ip {
				return true, nil
			}
		}
		return false, nil
	}
	return true, nil
}

// Outgoing is the compiled feature.network.outgoing.
type Outgoing struct {
	tcp, udp        bool
	ignoreLocalhost bool
	// onlyRemote: the filter lists the remote destinations; otherwise it
	// lists the local ones.
	onlyRemote bool
	entries    []Entry
}

// New compiles cfg. Errors name the config key.
func New(cfg schema.OutgoingConfig) (*Outgoing, error) {
	o := &Outgoing{tcp: cfg.TCP, udp: cfg.UDP, ignoreLocalhost: cfg.IgnoreLocalhost}
	if f := cfg.Filter; f != nil {
		key, list := "feature.network.outgoing.filter.local", f.Local
		if len(f.Remote) > 0 {
			key, list, o.onlyRemote = "feature.network.outgoing.filter.remote", f.Remote, true
		}
		for _, s := range list {
			e, err := Parse(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			o.entries = append(o.entries, e)
		}
	}
	return o, nil
}

// Enabled reports whether any outgoing traffic can go remote.
func (o *Outgoing) Enabled() bool { return o.tcp || o.udp }

// NeedsResolver reports whether deciding may need a name lookup (and so
// should not run on the notification loop).
func (o *Outgoing) NeedsResolver() bool {
	for _, e := range o.entries {
		if e.Name != "" {
			return true
		}
	}
	return false
}

// Decide says whether a connection to ap goes through the pod, and why.
func (o *Outgoing) Decide(ctx context.Context, proto Proto, ap netip.AddrPort, resolve Resolver) (remote bool, why string, err error) {
	switch {
	case proto == TCP && !o.tcp:
		return false, "feature.network.outgoing.tcp is off", nil
	case proto == UDP && !o.udp:
		return false, "feature.network.outgoing.udp is off", nil
	case ap.Port() == 0:
		return false, "port 0", nil
	}
	ip := ap.Addr().Unmap()
	if o.ignoreLocalhost && (ip.IsLoopback() || ip.IsUnspecified()) {
		return false, "feature.network.outgoing.ignore_localhost", nil
	}
	if len(o.entries) == 0 {
		return true, "outgoing traffic is remote", nil
	}
	for _, e := range o.entries {
		ok, err := e.Match(ctx, proto, ap, resolve)
		if err != nil {
			return false, "", err
		}
		if ok {
			if o.onlyRemote {
				return true, "filter.remote " + e.Raw, nil
			}
			return false, "filter.local " + e.Raw, nil
		}
	}
	if o.onlyRemote {
		return false, "not in filter.remote", nil
	}
	return true, "not in filter.local", nil
}
