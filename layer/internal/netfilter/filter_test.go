package netfilter

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/schema"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Entry
		wantErr string
	}{
		{in: "10.0.0.1", want: Entry{Prefix: netip.MustParsePrefix("10.0.0.1/32")}},
		{in: "tcp://10.0.0.0/8:443", want: Entry{Proto: TCP, Prefix: netip.MustParsePrefix("10.0.0.0/8"), Port: 443}},
		{in: "udp://:53", want: Entry{Proto: UDP, Port: 53}},
		{in: "[::1]:80", want: Entry{Prefix: netip.MustParsePrefix("::1/128"), Port: 80}},
		{in: "::1", want: Entry{Prefix: netip.MustParsePrefix("::1/128")}},
		{in: "Web.Default.svc.", want: Entry{Name: "web.default.svc"}},
		{in: "web:8080", want: Entry{Name: "web", Port: 8080}},
		{in: "10.1.2.3/16", want: Entry{Prefix: netip.MustParsePrefix("10.1.0.0/16")}},
		{in: "sctp://x", wantErr: "protocol"},
		{in: "x:99999", wantErr: "port"},
		{in: "", wantErr: "expected"},
		{in: "10.0.0.0/99", wantErr: "CIDR"},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		got.Raw = ""
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func resolver(m map[string][]string) Resolver {
	return func(_ context.Context, name string) ([]netip.Addr, error) {
		s, ok := m[name]
		if !ok {
			return nil, errors.New("no such host")
		}
		var out []netip.Addr
		for _, a := range s {
			out = append(out, netip.MustParseAddr(a))
		}
		return out, nil
	}
}

func TestDecide(t *testing.T) {
	res := resolver(map[string][]string{"web": {"10.96.0.5"}})
	type c struct {
		proto  Proto
		addr   string
		remote bool
	}
	tests := []struct {
		name  string
		cfg   schema.OutgoingConfig
		cases []c
	}{
		{"defaults", schema.OutgoingConfig{TCP: true, UDP: true}, []c{
			{TCP, "10.96.0.5:80", true}, {UDP, "10.96.0.10:53", true},
			{TCP, "127.0.0.1:80", true}, // the pod's localhost, as upstream
			{TCP, "10.0.0.1:0", false},
		}},
		{"toggles", schema.OutgoingConfig{TCP: false, UDP: true}, []c{
			{TCP, "10.96.0.5:80", false}, {UDP, "10.96.0.5:80", true},
		}},
		{"ignore_localhost", schema.OutgoingConfig{TCP: true, UDP: true, IgnoreLocalhost: true}, []c{
			{TCP, "127.0.0.1:80", false}, {TCP, "[::1]:80", false}, {TCP, "[::ffff:127.0.0.1]:80", false},
			{TCP, "0.0.0.0:80", false}, {TCP, "10.0.0.1:80", true},
		}},
		{"filter.remote", schema.OutgoingConfig{TCP: true, UDP: true, Filter: &schema.TrafficFilter{Remote: []string{"web:80", "udp://:53", "192.168.0.0/16"}}}, []c{
			{TCP, "10.96.0.5:80", true}, {TCP, "[::ffff:10.96.0.5]:80", true}, {TCP, "10.96.0.5:81", false},
			{UDP, "1.2.3.4:53", true}, {TCP, "1.2.3.4:53", false}, {TCP, "192.168.3.4:1", true}, {TCP, "10.0.0.1:1", false},
		}},
		{"filter.local", schema.OutgoingConfig{TCP: true, UDP: true, Filter: &schema.TrafficFilter{Local: []string{"tcp://127.0.0.0/8"}}}, []c{
			{TCP, "127.0.0.5:80", false}, {UDP, "127.0.0.5:80", true}, {TCP, "10.0.0.1:80", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, cs := range tt.cases {
				got, why, err := o.Decide(context.Background(), cs.proto, netip.MustParseAddrPort(cs.addr), res)
				if err != nil || got != cs.remote {
					t.Errorf("Decide(%s, %s) = %v (%s) %v, want %v", cs.proto, cs.addr, got, why, err, cs.remote)
				}
			}
		})
	}
}

func TestDecideResolverError(t *testing.T) {
	o, err := New(schema.OutgoingConfig{TCP: true, Filter: &schema.TrafficFilter{Local: []string{"nowhere"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !o.NeedsResolver() {
		t.Fatal("a name entry needs the resolver")
	}
	_, _, err = o.Decide(context.Background(), TCP, netip.MustParseAddrPort("10.0.0.1:80"), resolver(nil))
	if err == nil || !strings.Contains(err.Error(), `resolving "nowhere"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewErrorNamesKey(t *testing.T) {
	_, err := New(schema.OutgoingConfig{Filter: &schema.TrafficFilter{Remote: []string{"ftp://x"}}})
	if err == nil || !strings.Contains(err.Error(), "feature.network.outgoing.filter.remote") {
		t.Fatalf("err = %v", err)
	}
}

func TestDNSFilter(t *testing.T) {
	tests := []struct {
		name   string
		filter schema.TrafficFilter
		qname  string
		remote bool
	}{
		{"local: exact", schema.TrafficFilter{Local: schema.StringList{"example.com"}}, "example.com.", false},
		{"local: with a search domain", schema.TrafficFilter{Local: schema.StringList{"example.com"}}, "example.com.ns.svc.cluster.local.", false},
		{"local: other names remote", schema.TrafficFilter{Local: schema.StringList{"example.com"}}, "web.ns.svc.cluster.local.", true},
		{"local: no suffix match", schema.TrafficFilter{Local: schema.StringList{"example.com"}}, "myexample.com.", true},
		{"remote: listed", schema.TrafficFilter{Remote: schema.StringList{"web:80"}}, "WEB.ns.svc.cluster.local.", true},
		{"remote: others local", schema.TrafficFilter{Remote: schema.StringList{"web"}}, "example.com.", false},
		{"remote: ip entries match no name", schema.TrafficFilter{Remote: schema.StringList{"10.0.0.0/8"}}, "web.", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.filter
			d, err := NewDNS(schema.DNSConfig{Enabled: true, Filter: &f})
			if err != nil {
				t.Fatal(err)
			}
			if got, why := d.Remote(tt.qname); got != tt.remote {
				t.Errorf("Remote(%q) = %v (%s), want %v", tt.qname, got, why, tt.remote)
			}
		})
	}
	if d, err := NewDNS(schema.DNSConfig{Enabled: true}); d != nil || err != nil {
		t.Errorf("no filter: %v %v, want nil", d, err)
	}
	if _, err := NewDNS(schema.DNSConfig{Filter: &schema.TrafficFilter{Local: schema.StringList{"ftp://x"}}}); err == nil || !strings.Contains(err.Error(), "feature.network.dns.filter.local") {
		t.Errorf("bad entry: %v", err)
	}
}
