package netfilter

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/schema"
)

func TestNewIncoming(t *testing.T) {
	tests := []struct {
		name        string
		cfg         schema.IncomingConfig
		wantNil     bool
		wantErr     string
		wantWarning string
		wantFilter  *protocol.HTTPFilter
	}{
		{name: "off", cfg: schema.IncomingConfig{Mode: schema.IncomingOff}, wantNil: true},
		{name: "unset", cfg: schema.IncomingConfig{}, wantNil: true},
		{name: "steal header", cfg: schema.IncomingConfig{Mode: schema.IncomingSteal, HTTPFilter: schema.HTTPFilterConfig{HeaderFilter: "x: y"}},
			wantFilter: &protocol.HTTPFilter{Header: "x: y"}},
		{name: "steal all_of", cfg: schema.IncomingConfig{Mode: schema.IncomingSteal, HTTPFilter: schema.HTTPFilterConfig{AllOf: []schema.InnerFilter{{Header: "a"}, {Path: "^/b"}}}},
			wantFilter: &protocol.HTTPFilter{AllOf: []protocol.HTTPFilter{{Header: "a"}, {Path: "^/b"}}}},
		{name: "mirror drops the filter with a warning", cfg: schema.IncomingConfig{Mode: schema.IncomingMirror, HTTPFilter: schema.HTTPFilterConfig{PathFilter: "/x"}},
			wantWarning: "applies to steal"},
		{name: "jq is an error naming the key", cfg: schema.IncomingConfig{Mode: schema.IncomingSteal, HTTPFilter: schema.HTTPFilterConfig{HeaderFilterJQ: ".x"}},
			wantErr: "http_filter.header_filter_jq"},
		{name: "body is an error naming the key", cfg: schema.IncomingConfig{Mode: schema.IncomingSteal, HTTPFilter: schema.HTTPFilterConfig{BodyFilter: &schema.BodyFilter{}}},
			wantErr: "http_filter.body_filter"},
		{name: "empty inner filter names its index", cfg: schema.IncomingConfig{Mode: schema.IncomingSteal, HTTPFilter: schema.HTTPFilterConfig{AnyOf: []schema.InnerFilter{{Method: "GET"}, {}}}},
			wantErr: "http_filter.any_of[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := NewIncoming(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (in == nil) != tt.wantNil {
				t.Fatalf("NewIncoming = %v, want nil %v", in, tt.wantNil)
			}
			if in == nil {
				return
			}
			if !strings.Contains(in.Warning, tt.wantWarning) || (tt.wantWarning == "" && in.Warning != "") {
				t.Errorf("Warning = %q, want %q", in.Warning, tt.wantWarning)
			}
			if !reflect.DeepEqual(in.filter, tt.wantFilter) {
				t.Errorf("filter = %+v, want %+v", in.filter, tt.wantFilter)
			}
		})
	}
}

func TestIncomingPlan(t *testing.T) {
	ap := netip.MustParseAddrPort
	steal := func(f func(*schema.IncomingConfig)) *Incoming {
		cfg := schema.IncomingConfig{Mode: schema.IncomingSteal}
		f(&cfg)
		in, err := NewIncoming(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	header := &protocol.HTTPFilter{Header: "x: y"}
	tests := []struct {
		name    string
		in      *Incoming
		addr    string
		managed bool
		want    Listen
	}{
		{name: "wildcard", in: steal(func(*schema.IncomingConfig) {}), addr: "0.0.0.0:80", managed: true,
			want: Listen{Requested: ap("0.0.0.0:80"), Bind: ap("0.0.0.0:80"), Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal"}}},
		{name: "v4-mapped is unmapped", in: steal(func(*schema.IncomingConfig) {}), addr: "[::ffff:0.0.0.0]:80", managed: true,
			want: Listen{Requested: ap("0.0.0.0:80"), Bind: ap("0.0.0.0:80"), Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal"}}},
		{name: "pod IP binds loopback", in: steal(func(*schema.IncomingConfig) {}), addr: "10.244.0.5:8080", managed: true,
			want: Listen{Requested: ap("10.244.0.5:8080"), Bind: ap("127.0.0.1:8080"), Sub: protocol.SubscribeRequest{Port: 8080, Mode: "steal"}}},
		{name: "IPv6 pod IP binds ::", in: steal(func(*schema.IncomingConfig) {}), addr: "[fd00::5]:80", managed: true,
			want: Listen{Requested: ap("[fd00::5]:80"), Bind: ap("[::1]:80"), Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal"}}},
		{name: "port 0 is local", in: steal(func(*schema.IncomingConfig) {}), addr: "0.0.0.0:0"},
		{name: "ignore_localhost", in: steal(func(c *schema.IncomingConfig) { c.IgnoreLocalhost = true }), addr: "127.0.0.1:80"},
		{name: "ignore_localhost keeps the wildcard", in: steal(func(c *schema.IncomingConfig) { c.IgnoreLocalhost = true }), addr: "0.0.0.0:80", managed: true,
			want: Listen{Requested: ap("0.0.0.0:80"), Bind: ap("0.0.0.0:80"), Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal"}}},
		{name: "ignore_ports", in: steal(func(c *schema.IncomingConfig) { c.IgnorePorts = []schema.Port{80} }), addr: "0.0.0.0:80"},
		{name: "ports excludes others", in: steal(func(c *schema.IncomingConfig) { c.Ports = []schema.Port{443} }), addr: "0.0.0.0:80"},
		{name: "port_mapping subscribes the remote port", in: steal(func(c *schema.IncomingConfig) { c.PortMapping = []schema.PortPair{{9333, 80}} }), addr: "0.0.0.0:9333", managed: true,
			want: Listen{Requested: ap("0.0.0.0:9333"), Bind: ap("0.0.0.0:9333"), Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal"}}},
		{name: "ports is about the mapped remote port", in: steal(func(c *schema.IncomingConfig) {
			c.PortMapping = []schema.PortPair{{9333, 80}}
			c.Ports = []schema.Port{80}
		}), addr: "0.0.0.0:9333", managed: true,
			want: Listen{Requested: ap("0.0.0.0:9333"), Bind: ap("0.0.0.0:9333"), Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal"}}},
		{name: "listen_ports is fixed", in: steal(func(c *schema.IncomingConfig) { c.ListenPorts = []schema.PortPair{{80, 4480}} }), addr: "0.0.0.0:80", managed: true,
			want: Listen{Requested: ap("0.0.0.0:80"), Bind: ap("0.0.0.0:4480"), Fixed: true, Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal"}}},
		{name: "filter on every port", in: steal(func(c *schema.IncomingConfig) { c.HTTPFilter.HeaderFilter = "x: y" }), addr: "0.0.0.0:80", managed: true,
			want: Listen{Requested: ap("0.0.0.0:80"), Bind: ap("0.0.0.0:80"), Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal", HTTPFilter: header}}},
		{name: "filter ports leave others unfiltered", in: steal(func(c *schema.IncomingConfig) {
			c.HTTPFilter.HeaderFilter = "x: y"
			c.HTTPFilter.Ports = schema.PortList{8080}
		}), addr: "0.0.0.0:80", managed: true,
			want: Listen{Requested: ap("0.0.0.0:80"), Bind: ap("0.0.0.0:80"), Sub: protocol.SubscribeRequest{Port: 80, Mode: "steal"}}},
		{name: "off plans nothing", in: nil, addr: "0.0.0.0:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.in.Plan(ap(tt.addr))
			if ok != tt.managed {
				t.Fatalf("managed = %v, want %v (%+v)", ok, tt.managed, got)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Plan(%s) =\n %+v\nwant\n %+v", tt.addr, got, tt.want)
			}
		})
	}
}
