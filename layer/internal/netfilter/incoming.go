package netfilter

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/schema"
)

// Incoming is the compiled feature.network.incoming: which of the
// program's listening sockets get the target's traffic, on which local
// port they really listen, and which target port they subscribe.
type Incoming struct {
	mode            string
	ignoreLocalhost bool
	ports           []uint16 // nil: every port
	ignore          []uint16
	mapping         map[uint16]uint16 // local → remote
	listen          map[uint16]uint16 // requested → actual
	filter          *protocol.HTTPFilter
	filterPorts     []uint16 // nil: the filter applies to every port
	// Warning is for the user, once, when set.
	Warning string
}

// Listen is the plan for one managed bind.
type Listen struct {
	// Requested is what the program asked for; getsockname reports it.
	Requested netip.AddrPort
	// Bind is the address to really bind. With Fixed the bind must get
	// exactly it (listen_ports); otherwise the supervisor falls back to
	// port 0 when Bind's port is taken.
	Bind  netip.AddrPort
	Fixed bool
	// Sub is the subscription to ask for at listen.
	Sub protocol.SubscribeRequest
}

// NewIncoming compiles cfg. It returns nil when incoming traffic is off.
// Filter kinds this build cannot evaluate (header_filter_jq, body_filter)
// are errors naming the key, since silently stealing everything would
// answer requests that should reach the pod.
func NewIncoming(cfg schema.IncomingConfig) (*Incoming, error) {
	if cfg.Mode == schema.IncomingOff || cfg.Mode == "" {
		return nil, nil
	}
	in := &Incoming{
		mode: protocol.ModeMirror, ignoreLocalhost: cfg.IgnoreLocalhost,
		ignore: cfg.IgnorePorts, mapping: map[uint16]uint16{}, listen: map[uint16]uint16{},
	}
	if cfg.Mode == schema.IncomingSteal {
		in.mode = protocol.ModeSteal
	}
	if len(cfg.Ports) > 0 {
		in.ports = cfg.Ports
	}
	for _, p := range cfg.PortMapping {
		in.mapping[p[0]] = p[1]
	}
	for _, p := range cfg.ListenPorts {
		in.listen[p[0]] = p[1]
	}
	f, err := compileHTTPFilter(cfg.HTTPFilter)
	if err != nil {
		return nil, err
	}
	if f != nil && in.mode != protocol.ModeSteal {
		// Upstream mirrors only the matching requests; this build mirrors
		// whole connections, which is a superset, so it warns instead.
		in.Warning = "feature.network.incoming.http_filter applies to steal; mirror mode copies every connection"
		f = nil
	}
	in.filter = f
	if len(cfg.HTTPFilter.Ports) > 0 {
		in.filterPorts = cfg.HTTPFilter.Ports
	}
	return in, nil
}

func compileHTTPFilter(c schema.HTTPFilterConfig) (*protocol.HTTPFilter, error) {
	const key = "feature.network.incoming.http_filter"
	switch {
	case c.HeaderFilterJQ != "":
		return nil, fmt.Errorf("%s.header_filter_jq: jq filters are not supported by this build; use header_filter", key)
	case c.BodyFilter != nil:
		return nil, fmt.Errorf("%s.body_filter: body filters are not supported by this build", key)
	}
	inner := func(list []schema.InnerFilter, name string) ([]protocol.HTTPFilter, error) {
		out := make([]protocol.HTTPFilter, 0, len(list))
		for i, f := range list {
			switch {
			case f.HeaderJQ != "" || f.Body != nil:
				return nil, fmt.Errorf("%s.%s[%d]: jq and body filters are not supported by this build", key, name, i)
			case f.Header == "" && f.Path == "" && f.Method == "":
				return nil, fmt.Errorf("%s.%s[%d]: needs one of header, path or method", key, name, i)
			}
			out = append(out, protocol.HTTPFilter{Header: f.Header, Path: f.Path, Method: f.Method})
		}
		return out, nil
	}
	var f protocol.HTTPFilter
	var err error
	switch {
	case c.HeaderFilter != "":
		f.Header = c.HeaderFilter
	case c.PathFilter != "":
		f.Path = c.PathFilter
	case c.MethodFilter != "":
		f.Method = c.MethodFilter
	case len(c.AllOf) > 0:
		f.AllOf, err = inner(c.AllOf, "all_of")
	case len(c.AnyOf) > 0:
		f.AnyOf, err = inner(c.AnyOf, "any_of")
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// Plan says whether a bind of the program to addr (a TCP socket) is
// managed, and how. Unmanaged binds run as the program asked.
func (in *Incoming) Plan(addr netip.AddrPort) (Listen, bool) {
	if in == nil {
		return Listen{}, false
	}
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	port := addr.Port()
	remote := port
	if r, ok := in.mapping[port]; ok {
		remote = r
	}
	actual, fixed := in.listen[port]
	if !fixed {
		switch {
		case port == 0:
			return Listen{}, false
		case in.ignoreLocalhost && addr.Addr().IsLoopback():
			return Listen{}, false
		case slices.Contains(in.ignore, port):
			return Listen{}, false
		case in.ports != nil && !slices.Contains(in.ports, remote):
			return Listen{}, false
		}
		actual = port
	}
	ip := addr.Addr()
	if !ip.IsLoopback() && !ip.IsUnspecified() {
		// The pod's own IP (or any other) does not exist here; loopback
		// keeps the socket as private as a bind to one address meant.
		if ip.Is4() {
			ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			ip = netip.IPv6Loopback()
		}
	}
	return Listen{Requested: addr, Bind: netip.AddrPortFrom(ip, actual), Fixed: fixed, Sub: in.Request(remote)}, true
}

// Request is the subscription of the target's port remote: the mode, and
// the HTTP filter when it applies to that port.
func (in *Incoming) Request(remote uint16) protocol.SubscribeRequest {
	req := protocol.SubscribeRequest{Port: remote, Mode: in.mode}
	if in.filter != nil && (in.filterPorts == nil || slices.Contains(in.filterPorts, remote)) {
		req.HTTPFilter = in.filter
	}
	return req
}
