//go:build linux

package handler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/resolver"
	"github.com/mirrord-go/mirrord/agent/internal/testns"
	"github.com/mirrord-go/mirrord/agent/protocol"
)

const (
	token  = "handler-test-token"
	podIP  = "10.200.0.5"
	echoTC = 7777
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// connect serves a on a loopback connection and returns a client of it.
func connect(t *testing.T, a *Agent) *protocol.Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			return
		}
		_ = protocol.Serve(ctx, c, protocol.ServerOptions{TokenHash: protocol.TokenHash(token), Logger: quiet}, a.NewSession)
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := protocol.NewClient(ctx, conn, protocol.ClientOptions{Token: token, Name: "handler-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cl.Close()
		cancel()
		<-done
	})
	return cl
}

// inNS runs f in the namespace, failing the test on error.
func inNS(t *testing.T, ns nsenter.Namespace, f func() error) {
	t.Helper()
	if err := ns.Do(f); err != nil {
		t.Fatal(err)
	}
}

// podServers starts, inside the namespace, what a pod's network would
// offer: a TCP echo, a UDP upper-casing echo and a nameserver on :53.
func podServers(t *testing.T, ns nsenter.Namespace) {
	t.Helper()
	var tcp net.Listener
	var udp, dnsPC net.PacketConn
	var dnsLn net.Listener
	inNS(t, ns, func() (err error) {
		if tcp, err = net.Listen("tcp", net.JoinHostPort(podIP, "7777")); err != nil {
			return err
		}
		if udp, err = net.ListenPacket("udp", net.JoinHostPort(podIP, "7778")); err != nil {
			return err
		}
		if dnsPC, err = net.ListenPacket("udp", net.JoinHostPort(podIP, "53")); err != nil {
			return err
		}
		dnsLn, err = net.Listen("tcp", net.JoinHostPort(podIP, "53"))
		return err
	})
	t.Cleanup(func() { tcp.Close(); udp.Close() })
	go func() {
		for {
			c, err := tcp.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = udp.WriteTo([]byte(strings.ToUpper(string(buf[:n]))), from)
		}
	}()
	zone := map[string]string{
		"echo.team.svc.cluster.local.": "echo.team.svc.cluster.local. 5 IN A " + podIP,
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		text, ok := zone[q.Name]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Qtype == dns.TypeA:
			rr, _ := dns.NewRR(text)
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})
	us := &dns.Server{PacketConn: dnsPC, Handler: h}
	ts := &dns.Server{Listener: dnsLn, Handler: h}
	go func() { _ = us.ActivateAndServe() }()
	go func() { _ = ts.ActivateAndServe() }()
	t.Cleanup(func() { _ = us.Shutdown(); _ = ts.Shutdown() })
}

// targetRoot is the target's filesystem for DNS: its resolv.conf and hosts.
func targetRoot(t *testing.T) string {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"resolv.conf": "search team.svc.cluster.local svc.cluster.local cluster.local\nnameserver " + podIP + "\noptions ndots:5\n",
		"hosts":       "127.0.0.1 localhost\n" + podIP + " pod-self\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTargetedSession(t *testing.T) {
	n := testns.New(t, podIP+"/32")
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "MIRRORD_FAKE_VAR_FIRST=mirrord.is.running", "EMPTY=", "EQ=a=b"}
	p := n.Start(t, "target-pod-1", env)
	a := New("9.9.9", "targeted", p.PID, false, 0, 0, quiet)
	// The target's files for DNS, in place of its real /etc (the host's).
	a.Resolver = &resolver.Resolver{Root: targetRoot(t), Dial: nsenter.Dialer{NS: a.Net}.Dial, Timeout: time.Second}
	podServers(t, a.Net)
	cl := connect(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("info", func(t *testing.T) {
		info, err := cl.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Version != "9.9.9" || info.Mode != "targeted" || info.PID != p.PID || !slices.Equal(info.PodIPs, []string{podIP}) {
			t.Errorf("Info = %+v", info)
		}
	})
	t.Run("env", func(t *testing.T) {
		vars, err := cl.Env(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range vars {
			got = append(got, v.Name+"="+v.Value)
		}
		if !slices.Equal(got, env) {
			t.Errorf("Env = %q; want %q", got, env)
		}
	})
	t.Run("hostname", func(t *testing.T) {
		var r protocol.HostnameResponse
		if err := cl.Call(ctx, protocol.KindHostname, protocol.HostnameRequest{}, &r); err != nil || r.Hostname != "target-pod-1" {
			t.Errorf("hostname = %q, %v; want target-pod-1", r.Hostname, err)
		}
	})
	t.Run("dns.config", func(t *testing.T) {
		var r protocol.ResolvConf
		if err := cl.Call(ctx, protocol.KindResolvConf, protocol.ResolvConfRequest{}, &r); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.Nameservers, []string{podIP}) || r.Ndots != 5 || len(r.Search) != 3 || r.Search[0] != "team.svc.cluster.local" {
			t.Errorf("dns.config = %+v", r)
		}
	})
	t.Run("dns.lookup", func(t *testing.T) {
		tests := []struct {
			name string
			want string
			code protocol.Code
		}{
			{"echo", podIP, ""},     // search list, nameserver in the pod's namespace
			{"pod-self", podIP, ""}, // the target's hosts file
			{"missing", "", protocol.CodeNotFound},
		}
		for _, tt := range tests {
			addrs, err := cl.Lookup(ctx, tt.name)
			if tt.code != "" {
				var pe *protocol.Error
				if !errors.As(err, &pe) || pe.Code != tt.code || !strings.Contains(pe.Msg, "team.svc.cluster.local") {
					t.Errorf("Lookup(%s) = %v, %v; want %s naming the search domains", tt.name, addrs, err, tt.code)
				}
				continue
			}
			if err != nil || len(addrs) != 1 || addrs[0].String() != tt.want {
				t.Errorf("Lookup(%s) = %v, %v; want %s", tt.name, addrs, err, tt.want)
			}
		}
	})
	t.Run("tcp.connect by name, with half-close", func(t *testing.T) {
		c, r, err := cl.Open(ctx, protocol.StreamHeader{Kind: protocol.StreamTCP, Addr: "echo:7777"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if r.Remote != podIP+":7777" || !strings.HasPrefix(r.Local, podIP+":") {
			t.Errorf("reply local %s remote %s; want a socket from the pod's address", r.Local, r.Remote)
		}
		if _, err := io.WriteString(c, "hello pod"); err != nil {
			t.Fatal(err)
		}
		if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c) // the echo ends when it sees our FIN
		if err != nil || string(got) != "hello pod" {
			t.Errorf("echo = %q, %v", got, err)
		}
	})
	t.Run("tcp.connect errors", func(t *testing.T) {
		tests := []struct {
			addr  string
			code  protocol.Code
			errno syscall.Errno
		}{
			{podIP + ":1", protocol.CodeUnreachable, syscall.ECONNREFUSED},
			{"10.99.99.99:80", protocol.CodeUnreachable, syscall.ENETUNREACH}, // no route in the pod
			{"missing:80", protocol.CodeNotFound, 0},
			{"no-port", protocol.CodeInvalid, 0},
		}
		for _, tt := range tests {
			_, err := cl.DialTCP(ctx, tt.addr)
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != tt.code {
				t.Errorf("DialTCP(%s) = %v; want code %s", tt.addr, err, tt.code)
				continue
			}
			if errno, _ := pe.AsErrno(); errno != tt.errno {
				t.Errorf("DialTCP(%s) errno = %v; want %v", tt.addr, errno, tt.errno)
			}
		}
	})
	t.Run("udp.connect", func(t *testing.T) {
		c, err := cl.DialUDP(ctx, "echo.team.svc.cluster.local.:7778")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 100)
		for _, msg := range []string{"one", "two"} {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, err := c.Read(buf)
			if err != nil || string(buf[:k]) != strings.ToUpper(msg) {
				t.Errorf("datagram = %q, %v; want %q", buf[:k], err, strings.ToUpper(msg))
			}
		}
	})
	t.Run("not implemented yet", func(t *testing.T) {
		for _, kind := range []protocol.Kind{protocol.KindSubscribe, "bogus"} {
			err := cl.Call(ctx, kind, protocol.Empty{}, nil)
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != protocol.CodeUnsupported {
				t.Errorf("%s = %v; want unsupported", kind, err)
			}
		}
		_, _, err := cl.Open(ctx, protocol.StreamHeader{Kind: protocol.StreamIncoming})
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeUnsupported {
			t.Errorf("incoming stream from the client = %v; want unsupported", err)
		}
	})
}

func TestTargetlessSession(t *testing.T) {
	a := New("9.9.9", "targetless", 0, false, 0, 0, quiet)
	cl := connect(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	vars, err := cl.Env(ctx)
	if err != nil || len(vars) != 0 {
		t.Errorf("Env = %v, %v; want empty", vars, err)
	}
	want, _ := os.Hostname()
	var r protocol.HostnameResponse
	if err := cl.Call(ctx, protocol.KindHostname, protocol.HostnameRequest{}, &r); err != nil || r.Hostname != want {
		t.Errorf("hostname = %q, %v; want %q", r.Hostname, err, want)
	}
	// Dialing from the agent's own namespace.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_, _ = io.WriteString(c, "own")
			c.Close()
		}
	}()
	c, err := cl.DialTCP(ctx, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if string(got) != "own" {
		t.Errorf("read %q", got)
	}
}

func TestParseEnviron(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"A=1\x00B=x=y\x00C=\x00", []string{"A=1", "B=x=y", "C="}},
		{"", nil},
		{"NOEQUALS\x00=novalue\x00D=4", []string{"D=4"}},
	}
	for _, tt := range tests {
		var got []string
		for _, v := range ParseEnviron([]byte(tt.in)) {
			got = append(got, v.Name+"="+v.Value)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("ParseEnviron(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
