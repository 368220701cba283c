package resolver

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// zone is what the test nameserver knows: name → records, in RR text.
type zone map[string][]string

// nameserver is an in-process DNS server on loopback, UDP and TCP on the
// same port. It records the questions it gets.
type nameserver struct {
	addr string
	mu   sync.Mutex
	log  []string // "udp A name." per question
}

func (s *nameserver) questions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

func startNameserver(t *testing.T, z zone, truncate map[string]bool) *nameserver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	ns := &nameserver{addr: pc.LocalAddr().String()}
	handler := func(network string) dns.HandlerFunc {
		return func(w dns.ResponseWriter, req *dns.Msg) {
			q := req.Question[0]
			ns.mu.Lock()
			ns.log = append(ns.log, network+" "+dns.TypeToString[q.Qtype]+" "+q.Name)
			ns.mu.Unlock()
			m := new(dns.Msg)
			m.SetReply(req)
			rrs, ok := z[strings.ToLower(q.Name)]
			if !ok {
				m.Rcode = dns.RcodeNameError
			}
			if network == "udp" && truncate[q.Name] {
				m.Truncated = true
				_ = w.WriteMsg(m)
				return
			}
			for _, text := range rrs {
				rr, err := dns.NewRR(text)
				if err != nil {
					t.Errorf("bad test record %q: %v", text, err)
					continue
				}
				if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
					m.Answer = append(m.Answer, rr)
				}
			}
			_ = w.WriteMsg(m)
		}
	}
	udp := &dns.Server{PacketConn: pc, Handler: handler("udp")}
	tcp := &dns.Server{Listener: ln, Handler: handler("tcp")}
	go func() { _ = udp.ActivateAndServe() }()
	go func() { _ = tcp.ActivateAndServe() }()
	t.Cleanup(func() {
		_ = udp.Shutdown()
		_ = tcp.Shutdown()
	})
	return ns
}

// silentServer reads queries and never answers.
func silentServer(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return pc.LocalAddr().String()
}

// root writes a target filesystem with the given resolv.conf and hosts.
func root(t *testing.T, resolvConf, hosts string) string {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"resolv.conf": resolvConf, "hosts": hosts} {
		if text == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dialTo maps the resolv.conf nameservers (port 53, which tests cannot
// bind) to test servers.
func dialTo(servers map[string]string) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		real, ok := servers[host]
		if !ok {
			return nil, errors.New("test: no server for " + addr)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, real)
	}
}

const kubeResolvConf = `# as kubelet writes it
search mirrord-e2e.svc.cluster.local svc.cluster.local cluster.local
nameserver 192.0.2.53
options ndots:5
`

var kubeZone = zone{
	"internal-only.mirrord-e2e.svc.cluster.local.": {"internal-only.mirrord-e2e.svc.cluster.local. 5 IN A 10.96.12.34"},
	"web.other.svc.cluster.local.":                 {"web.other.svc.cluster.local. 5 IN A 10.96.0.77"},
	"dual.example.com.": {
		"dual.example.com. 5 IN AAAA 2001:db8::7",
		"dual.example.com. 5 IN A 192.0.2.7",
	},
	"alias.example.com.":  {"alias.example.com. 5 IN CNAME dual.example.com.", "dual.example.com. 5 IN A 192.0.2.7"},
	"big.example.com.":    {"big.example.com. 5 IN A 192.0.2.8"},
	"v6only.example.com.": {"v6only.example.com. 5 IN AAAA 2001:db8::6"},
}

func TestLookup(t *testing.T) {
	ns := startNameserver(t, kubeZone, map[string]bool{"big.example.com.": true})
	r := &Resolver{
		Root: root(t, kubeResolvConf, "127.0.0.1 localhost\n10.1.2.3 pinned.example.com pinned # comment\n::1 localhost ip6-localhost\n"),
		Dial: dialTo(map[string]string{"192.0.2.53": ns.addr}),
	}
	tests := []struct {
		name      string
		family    int
		want      []string
		canonical string
		asked     []string // questions, in order (nil: none)
	}{
		{"internal-only", 0, []string{"10.96.12.34"}, "internal-only.mirrord-e2e.svc.cluster.local",
			[]string{"udp A internal-only.mirrord-e2e.svc.cluster.local.", "udp AAAA internal-only.mirrord-e2e.svc.cluster.local."}},
		// ndots:5: a name with two dots still goes through the search list first.
		{"web.other", 4, []string{"10.96.0.77"}, "web.other.svc.cluster.local",
			[]string{"udp A web.other.mirrord-e2e.svc.cluster.local.", "udp A web.other.svc.cluster.local."}},
		// A trailing dot: no search list.
		{"dual.example.com.", 0, []string{"192.0.2.7", "2001:db8::7"}, "dual.example.com",
			[]string{"udp A dual.example.com.", "udp AAAA dual.example.com."}},
		{"dual.example.com.", 6, []string{"2001:db8::7"}, "dual.example.com", []string{"udp AAAA dual.example.com."}},
		{"alias.example.com.", 4, []string{"192.0.2.7"}, "dual.example.com", []string{"udp A alias.example.com."}},
		{"big.example.com.", 4, []string{"192.0.2.8"}, "big.example.com", []string{"udp A big.example.com.", "tcp A big.example.com."}},
		{"v6only.example.com.", 0, []string{"2001:db8::6"}, "v6only.example.com",
			[]string{"udp A v6only.example.com.", "udp AAAA v6only.example.com."}},
		// /etc/hosts first, and without asking the nameserver.
		{"pinned", 0, []string{"10.1.2.3"}, "pinned", nil},
		{"PINNED.example.com.", 0, []string{"10.1.2.3"}, "PINNED.example.com", nil},
		{"localhost", 0, []string{"127.0.0.1", "::1"}, "localhost", nil},
		{"localhost", 6, []string{"::1"}, "localhost", nil},
		{"10.9.8.7", 0, []string{"10.9.8.7"}, "10.9.8.7", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+string(rune('0'+tt.family)), func(t *testing.T) {
			before := len(ns.questions())
			got, err := r.Lookup(context.Background(), tt.name, tt.family)
			if err != nil {
				t.Fatalf("Lookup: %v", err)
			}
			if !slices.Equal(got.Addrs, tt.want) || got.Canonical != tt.canonical {
				t.Errorf("Lookup = %v %q; want %v %q", got.Addrs, got.Canonical, tt.want, tt.canonical)
			}
			if asked := ns.questions()[before:]; !slices.Equal(asked, tt.asked) {
				t.Errorf("questions = %q; want %q", asked, tt.asked)
			}
		})
	}
}

func TestLookupNotFound(t *testing.T) {
	ns := startNameserver(t, kubeZone, nil)
	r := &Resolver{Root: root(t, kubeResolvConf, ""), Dial: dialTo(map[string]string{"192.0.2.53": ns.addr})}
	_, err := r.Lookup(context.Background(), "nope", 0)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound {
		t.Fatalf("Lookup(nope) = %v; want a not_found protocol error", err)
	}
	for _, want := range []string{"nope", "nope.mirrord-e2e.svc.cluster.local", "search domains: mirrord-e2e.svc.cluster.local, svc.cluster.local, cluster.local"} {
		if !strings.Contains(pe.Msg, want) {
			t.Errorf("error %q lacks %q", pe.Msg, want)
		}
	}
	// NXDOMAIN answers the AAAA question too: 4 names, one question each.
	if q := ns.questions(); len(q) != 4 {
		t.Errorf("questions = %q; want one A per candidate name", q)
	}
}

func TestLookupTimeoutsAndAttempts(t *testing.T) {
	ns := startNameserver(t, kubeZone, nil)
	dead := silentServer(t)
	conf := "nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch svc.cluster.local\n"
	tests := []struct {
		name     string
		servers  map[string]string
		attempts int
		wantErr  string
		maxTime  time.Duration
	}{
		{"first server silent, second answers", map[string]string{"192.0.2.1": dead, "192.0.2.2": ns.addr}, 1, "", 2 * time.Second},
		{"all silent", map[string]string{"192.0.2.1": dead, "192.0.2.2": dead}, 2, "i/o timeout", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Resolver{Root: root(t, conf, ""), Dial: dialTo(tt.servers), Timeout: 100 * time.Millisecond, Attempts: tt.attempts}
			t0 := time.Now()
			got, err := r.Lookup(context.Background(), "web.other", 4)
			took := time.Since(t0)
			if took > tt.maxTime {
				t.Errorf("took %s; want at most %s", took, tt.maxTime)
			}
			if tt.wantErr == "" {
				if err != nil || !slices.Equal(got.Addrs, []string{"10.96.0.77"}) {
					t.Fatalf("Lookup = %v, %v", got, err)
				}
				return
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeUnreachable || !strings.Contains(pe.Msg, tt.wantErr) {
				t.Fatalf("Lookup = %v; want an unreachable error with %q", err, tt.wantErr)
			}
			// 2 candidate names × 2 attempts × 2 servers × 100 ms.
			if took < 800*time.Millisecond {
				t.Errorf("gave up after %s; want every attempt tried", took)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name   string
		conf   string
		r      Resolver
		want   Config
		search []string
	}{
		{"kubelet", kubeResolvConf, Resolver{}, Config{Servers: []string{"192.0.2.53"}, Port: "53", Ndots: 5, Timeout: 5 * time.Second, Attempts: 2},
			[]string{"mirrord-e2e.svc.cluster.local", "svc.cluster.local", "cluster.local"}},
		{"options and overrides", "nameserver 10.0.0.1\nnameserver fd00::1\noptions timeout:3 attempts:4\n", Resolver{Timeout: time.Second, Attempts: 1},
			Config{Servers: []string{"10.0.0.1", "fd00::1"}, Port: "53", Ndots: 1, Timeout: time.Second, Attempts: 1}, nil},
		{"missing file", "", Resolver{}, Config{Servers: []string{"127.0.0.1"}, Port: "53", Ndots: 1, Timeout: 5 * time.Second, Attempts: 2}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.Root = root(t, tt.conf, "")
			got, err := r.Config()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Servers, tt.want.Servers) || got.Port != tt.want.Port || got.Ndots != tt.want.Ndots ||
				got.Timeout != tt.want.Timeout || got.Attempts != tt.want.Attempts || !slices.Equal(got.Search, tt.search) {
				t.Errorf("Config = %+v; want %+v search %v", got, tt.want, tt.search)
			}
			rc, err := r.ResolvConf()
			if err != nil || !slices.Equal(rc.Nameservers, tt.want.Servers) || rc.Ndots != tt.want.Ndots || !slices.Equal(rc.Search, tt.search) {
				t.Errorf("ResolvConf = %+v, %v", rc, err)
			}
		})
	}
}
