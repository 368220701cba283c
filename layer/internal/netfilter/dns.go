package netfilter

import (
	"fmt"
	"strings"

	"github.com/mirrord-go/mirrord/schema"
)

// DNS is the compiled feature.network.dns.filter: which names the pod's
// nameserver resolves and which the local one does. Entries are
// `name[:port]` (IPs and CIDRs never match a name; the port is accepted
// for upstream compatibility and ignored, since a DNS query carries none).
type DNS struct {
	onlyRemote bool
	names      []string
	key        string
}

// NewDNS compiles cfg; nil means every name is resolved remotely.
func NewDNS(cfg schema.DNSConfig) (*DNS, error) {
	f := cfg.Filter
	if f == nil || (len(f.Local) == 0 && len(f.Remote) == 0) {
		return nil, nil
	}
	d := &DNS{key: "feature.network.dns.filter.local"}
	list := f.Local
	if len(f.Remote) > 0 {
		d.key, list, d.onlyRemote = "feature.network.dns.filter.remote", f.Remote, true
	}
	for _, s := range list {
		e, err := Parse(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.key, err)
		}
		if e.Name != "" {
			d.names = append(d.names, e.Name)
		}
	}
	return d, nil
}

// Remote says whether the query for qname (as sent, possibly with a
// search domain appended by the resolver) goes to the pod. An entry
// matches the name itself, and the name with any search domain appended:
// `web` matches `web.` and `web.default.svc.cluster.local.`.
func (d *DNS) Remote(qname string) (bool, string) {
	q := strings.ToLower(strings.TrimSuffix(qname, "."))
	for _, n := range d.names {
		if q == n || strings.HasPrefix(q, n+".") {
			if d.onlyRemote {
				return true, d.key + " " + n
			}
			return false, d.key + " " + n
		}
	}
	if d.onlyRemote {
		return false, "not in " + d.key
	}
	return true, "not in " + d.key
}
