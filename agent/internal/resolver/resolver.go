// Package resolver resolves names the way a process in the target pod
// does with libc: the pod's /etc/hosts first, then the nameservers of the
// pod's /etc/resolv.conf with its search list and ndots, A and AAAA over
// UDP with a TCP retry on truncation. A local program run through mirrord
// must see the addresses the pod would see (Service ClusterIPs, short
// names such as "internal-only"), and only the pod's files and network
// namespace give them.
//
// The files are read through /proc/<pid>/root, and every DNS socket is
// created by the Dial function, which the agent points into the target's
// network namespace.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// DialFunc creates a socket connected to addr (a literal ip:port).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Resolver resolves names for one target.
type Resolver struct {
	// Root is the target's filesystem root ("/proc/<pid>/root"), "" or "/"
	// for the agent's own.
	Root string
	// Dial creates the DNS sockets.
	Dial DialFunc
	// Timeout and Attempts override resolv.conf's options when not zero.
	Timeout  time.Duration
	Attempts int
}

// Config is the target's resolv.conf, parsed.
type Config struct {
	Servers  []string // IP addresses
	Port     string
	Search   []string
	Ndots    int
	Timeout  time.Duration
	Attempts int
}

func (r *Resolver) path(p string) string {
	if r.Root == "" {
		return p
	}
	return filepath.Join(r.Root, p)
}

// Config reads the target's /etc/resolv.conf. A missing file gives libc's
// defaults (the nameserver on localhost).
func (r *Resolver) Config() (Config, error) {
	file := r.path("/etc/resolv.conf")
	cc, err := dns.ClientConfigFromFile(file)
	if errors.Is(err, os.ErrNotExist) {
		cc, err = dns.ClientConfigFromReader(strings.NewReader(""))
	}
	if err != nil {
		return Config{}, fmt.Errorf("reading the target's resolv.conf (%s): %w", file, err)
	}
	c := Config{
		Servers: cc.Servers, Port: cc.Port, Ndots: cc.Ndots,
		Timeout: time.Duration(cc.Timeout) * time.Second, Attempts: cc.Attempts,
	}
	if len(c.Servers) == 0 {
		c.Servers = []string{"127.0.0.1"}
	}
	for _, s := range cc.Search {
		if s = strings.TrimSuffix(s, "."); s != "" {
			c.Search = append(c.Search, s)
		}
	}
	if r.Timeout > 0 {
		c.Timeout = r.Timeout
	}
	if r.Attempts > 0 {
		c.Attempts = r.Attempts
	}
	return c, nil
}

// ResolvConf is the target's DNS setup as the protocol carries it.
func (r *Resolver) ResolvConf() (protocol.ResolvConf, error) {
	c, err := r.Config()
	if err != nil {
		return protocol.ResolvConf{}, err
	}
	return protocol.ResolvConf{Nameservers: c.Servers, Search: c.Search, Ndots: c.Ndots}, nil
}

// Lookup resolves name for family 0 (both), 4 or 6. Addresses come IPv4
// first. A name that does not exist is a protocol.Error with
// CodeNotFound naming the names tried.
func (r *Resolver) Lookup(ctx context.Context, name string, family int) (protocol.LookupResponse, error) {
	host := strings.TrimSuffix(name, ".")
	if host == "" {
		return protocol.LookupResponse{}, protocol.Errorf(protocol.CodeInvalid, "empty host name")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return protocol.LookupResponse{Addrs: strs(filter([]netip.Addr{ip}, family)), Canonical: host}, nil
	}
	addrs, err := r.lookupHosts(host)
	if err != nil {
		return protocol.LookupResponse{}, err
	}
	if addrs = filter(addrs, family); len(addrs) > 0 {
		return protocol.LookupResponse{Addrs: strs(addrs), Canonical: host}, nil
	}
	cfg, err := r.Config()
	if err != nil {
		return protocol.LookupResponse{}, err
	}
	cc := dns.ClientConfig{Search: cfg.Search, Ndots: cfg.Ndots}
	names := cc.NameList(name)
	var failures []string
	for _, fqdn := range names {
		addrs, canon, err := r.query(ctx, cfg, fqdn, family)
		if err != nil {
			if ctx.Err() != nil {
				return protocol.LookupResponse{}, fmt.Errorf("looking up %s: %w", name, ctx.Err())
			}
			failures = append(failures, err.Error())
			continue
		}
		if len(addrs) > 0 {
			return protocol.LookupResponse{Addrs: strs(addrs), Canonical: strings.TrimSuffix(canon, ".")}, nil
		}
	}
	if len(failures) > 0 {
		return protocol.LookupResponse{}, protocol.Errorf(protocol.CodeUnreachable,
			"looking up %s in the target pod: %s (nameservers %s, tried %s)",
			name, strings.Join(failures, "; "), strings.Join(cfg.Servers, ", "), strings.Join(trimDots(names), ", "))
	}
	return protocol.LookupResponse{}, protocol.Errorf(protocol.CodeNotFound,
		"%s not found from the target pod (tried %s; search domains: %s)",
		name, strings.Join(trimDots(names), ", "), orNone(cfg.Search))
}

// query asks for the A and AAAA records of one fully qualified name. It
// returns no addresses and no error when the name does not exist or has
// no record of the asked type, and an error when no server answered.
func (r *Resolver) query(ctx context.Context, cfg Config, fqdn string, family int) ([]netip.Addr, string, error) {
	var types []uint16
	if family != 6 {
		types = append(types, dns.TypeA)
	}
	if family != 4 {
		types = append(types, dns.TypeAAAA)
	}
	var out []netip.Addr
	canon := fqdn
	answered := false
	var lastErr error
	for _, t := range types {
		resp, err := r.exchange(ctx, cfg, fqdn, t)
		if err != nil {
			lastErr = err
			continue
		}
		answered = true
		switch resp.Rcode {
		case dns.RcodeSuccess:
		case dns.RcodeNameError:
			// NXDOMAIN holds for every type: no need to ask for AAAA.
			return nil, "", nil
		default:
			lastErr = fmt.Errorf("%s: server answered %s", strings.TrimSuffix(fqdn, "."), dns.RcodeToString[resp.Rcode])
			answered = false
			continue
		}
		for _, rr := range resp.Answer {
			switch v := rr.(type) {
			case *dns.A:
				if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
					out = append(out, a)
					canon = v.Hdr.Name
				}
			case *dns.AAAA:
				if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
					out = append(out, a)
					canon = v.Hdr.Name
				}
			}
		}
	}
	if len(out) == 0 && !answered && lastErr != nil {
		return nil, "", lastErr
	}
	return out, canon, nil
}

// exchange sends one question to the servers in order, Attempts rounds,
// each try bounded by Timeout; a truncated UDP answer is asked again over
// TCP.
func (r *Resolver) exchange(ctx context.Context, cfg Config, fqdn string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(fqdn, qtype)
	m.RecursionDesired = true
	var lastErr error
	for range max(cfg.Attempts, 1) {
		for _, server := range cfg.Servers {
			addr := net.JoinHostPort(server, cfg.Port)
			resp, err := r.try(ctx, "udp", addr, m, cfg.Timeout)
			if err == nil && resp.Truncated {
				resp, err = r.try(ctx, "tcp", addr, m, cfg.Timeout)
			}
			if err == nil {
				return resp, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			lastErr = fmt.Errorf("asking %s for %s %s: %w", addr, strings.TrimSuffix(fqdn, "."), dns.TypeToString[qtype], err)
		}
	}
	return nil, lastErr
}

func (r *Resolver) try(ctx context.Context, network, addr string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := r.Dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	c := dns.Client{Net: network, Timeout: timeout}
	resp, _, err := c.ExchangeWithConnContext(ctx, m, &dns.Conn{Conn: conn})
	return resp, err
}

func filter(addrs []netip.Addr, family int) []netip.Addr {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() {
			if family != 6 {
				v4 = append(v4, a)
			}
		} else if family != 4 {
			v6 = append(v6, a)
		}
	}
	return append(v4, v6...)
}

func strs(addrs []netip.Addr) []string {
	addrs = filter(addrs, 0)
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

func trimDots(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.TrimSuffix(n, ".")
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
