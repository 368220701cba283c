//go:build e2e

// Package incoming_test proves incoming traffic against the local cluster:
// mirror, steal and HTTP-filtered steal of the web pod's port 80, with the
// traffic sent from a client pod through the web Service, and mirrord and
// the local app running in the laptop netns as a developer would run them.
// What is asserted is what a developer observes: which side answers, what
// the local app receives and from which peer, and what is left in the
// pod's network namespace afterwards.
package incoming_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
)

func nonce() string { return fmt.Sprintf("%x", time.Now().UnixNano()) }

// fromPod reports whether body is the web pod's answer.
func fromPod(body string) bool { return strings.HasPrefix(body, "GET from pod ") }

func TestMirror(t *testing.T) {
	c := getCluster(t)
	app := startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"mirror"}`)), server(t), "-addr", ":80")

	// The mirror is active once a copy reaches the app.
	hc := c.httpClient(false)
	warm := "/mirror-warm-" + nonce()
	deadline := time.Now().Add(60 * time.Second)
	for len(app.requests(warm)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no mirrored request reached the local app within 60s")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = get(ctx, hc, c.web(warm), nil)
		cancel()
		time.Sleep(300 * time.Millisecond)
	}

	prefix := "/mirror-" + nonce() + "/"
	for conn := range 2 {
		kc := c.httpClient(true)
		reused := 0
		for req := range 2 {
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) {
					if i.Reused {
						reused++
					}
				},
			})
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			body, err := get(ctx, kc, c.web(fmt.Sprintf("%s%d/%d", prefix, conn, req)), nil)
			cancel()
			if err != nil || !fromPod(body) {
				t.Fatalf("mirror: request %d/%d: want the pod's answer, got %q %v", conn, req, body, err)
			}
		}
		if reused != 1 {
			t.Fatalf("connection %d: the second request did not reuse the connection (reused=%d)", conn, reused)
		}
		kc.CloseIdleConnections()
	}
	// Copies arrive asynchronously: wait for 4, then make sure no more come.
	deadline = time.Now().Add(10 * time.Second)
	for len(app.requests(prefix)) < 4 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	got := app.requests(prefix)
	if len(got) != 4 {
		t.Fatalf("the local app logged %d mirrored requests, want exactly 4: %+v", len(got), got)
	}
	for _, ev := range got {
		if host, _, _ := net.SplitHostPort(ev.Peer); host != c.clientIP {
			t.Errorf("mirrored request %s came from %s, want the client pod %s", ev.Path, ev.Peer, c.clientIP)
		}
	}
	t.Logf("mirror: 4 pod answers, the local app logged %d copies from %s", len(got), c.clientIP)
}

func TestSteal(t *testing.T) {
	c := getCluster(t)
	app := startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"steal"}`)), server(t), "-addr", ":80")
	c.waitLocal(t, "/steal-warm", nil, 60*time.Second)

	hc := c.httpClient(true)
	path := "/steal-" + nonce()
	body, err := get(context.Background(), hc, c.web(path), nil)
	if err != nil || body != "LOCAL local "+path+"\n" {
		t.Fatalf("steal: want the local app's answer, got %q %v", body, err)
	}
	reqs := app.requests(path)
	if len(reqs) != 1 {
		t.Fatalf("the local app logged %d requests for %s, want 1", len(reqs), path)
	}
	// accept()'s peer, as the app's net/http reports it.
	if host, _, _ := net.SplitHostPort(reqs[0].Peer); host != c.clientIP {
		t.Errorf("the local app saw the peer %s, want the client pod %s", reqs[0].Peer, c.clientIP)
	}

	// The app exits: the pod answers again within 2 s.
	if body, err := get(context.Background(), c.httpClient(false), c.web("/quit"), nil); err != nil || !strings.Contains(body, "bye") {
		t.Fatalf("/quit: %q %v", body, err)
	}
	quit := time.Now()
	var back time.Duration
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		body, err := get(ctx, c.httpClient(false), c.web("/after-quit"), nil)
		cancel()
		if err == nil && fromPod(body) {
			back = time.Since(quit)
			break
		}
		if time.Since(quit) > 2*time.Second {
			t.Fatalf("2s after the local app exited, the pod does not answer: %q %v", body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("the pod answers again %s after the local app exited", back.Round(time.Millisecond))
	select {
	case <-app.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("mirrord did not exit after its program did")
	}
	c.noRules(t, 15*time.Second)
}

func TestStealHeaderFilter(t *testing.T) {
	c := getCluster(t)
	cfg := webConfig(c.e, `{"mode":"steal","http_filter":{"header_filter":"x-mirrord-test: yes"}}`)
	app := startApp(t, c.e, writeConfig(t, cfg), server(t), "-addr", ":80")
	mine := map[string]string{"x-mirrord-test": "yes"}
	c.waitLocal(t, "/filter-warm", mine, 60*time.Second)

	// One keep-alive connection, requests alternating: each is routed on
	// its own.
	hc := c.httpClient(true)
	for i := range 6 {
		h := map[string]string{}
		if i%2 == 0 {
			h = mine
		}
		path := fmt.Sprintf("/filter-%d", i)
		body, err := get(context.Background(), hc, c.web(path), h)
		if err != nil {
			t.Fatal(err)
		}
		if local := strings.HasPrefix(body, "LOCAL"); local != (i%2 == 0) {
			t.Fatalf("request %d (header %v): got %q", i, h, body)
		}
	}

	t.Run("raw TCP", func(t *testing.T) {
		before := len(app.all("accept"))
		conn, err := c.dial(context.Background(), "tcp", c.serviceIP+":80")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Write([]byte("HELLO raw bytes, not HTTP\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 400") {
			t.Fatalf("want the pod's Go server to reject the raw bytes (HTTP/1.1 400), got %q %v", line, err)
		}
		time.Sleep(time.Second)
		if n := len(app.all("accept")) - before; n != 0 {
			t.Fatalf("the local app accepted %d connections during the raw TCP exchange, want 0", n)
		}
	})
}

// TestStealH2CAndGRPC: with a header AND path filter, matching h2c and
// gRPC calls are served locally and the others by the pod, on the same
// connection.
func TestStealH2CAndGRPC(t *testing.T) {
	c := getCluster(t)
	cfg := webConfig(c.e, `{"mode":"steal","http_filter":{"all_of":[{"header":"x-mirrord-test: yes"},{"path":"^/(h2-|grpc\\.health\\.v1\\.Health/)"}]}}`)
	app := startApp(t, c.e, writeConfig(t, cfg), server(t), "-addr", ":80")
	mine := map[string]string{"x-mirrord-test": "yes"}
	c.waitLocal(t, "/h2-warm", mine, 60*time.Second)
	// The header alone is not enough: the path must match too.
	body, err := get(context.Background(), c.httpClient(false), c.web("/other"), mine)
	if err != nil || !fromPod(body) {
		t.Fatalf("a request matching only the header filter must reach the pod: %q %v", body, err)
	}

	t.Run("h2c", func(t *testing.T) {
		tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return c.dial(ctx, network, addr)
		}}
		t.Cleanup(tr.CloseIdleConnections)
		hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		conns := map[string]bool{}
		for i, h := range []map[string]string{mine, nil, mine, nil} {
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				GotConn: func(i httptrace.GotConnInfo) { conns[i.Conn.LocalAddr().String()] = true },
			})
			body, err := get(ctx, hc, c.web(fmt.Sprintf("/h2-%d", i)), h)
			if err != nil {
				t.Fatal(err)
			}
			if local := strings.HasPrefix(body, "LOCAL"); local != (h != nil) {
				t.Fatalf("h2c request %d (header %v): got %q", i, h, body)
			}
		}
		if len(conns) != 1 {
			t.Fatalf("the h2c requests used %d connections, want 1", len(conns))
		}
		for _, ev := range app.requests("/h2-") {
			if ev.Path == "/h2-warm" {
				continue // HTTP/1.1 by waitLocal
			}
			if ev.Proto != "HTTP/2.0" {
				t.Errorf("the local app got %s over %s, want HTTP/2.0", ev.Path, ev.Proto)
			}
		}
	})

	t.Run("grpc", func(t *testing.T) {
		cc, err := grpc.NewClient("passthrough:///"+c.serviceIP+":80",
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return c.dial(ctx, "tcp", addr) }))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		hc := healthpb.NewHealthClient(cc)
		for i, withHeader := range []bool{true, false, true, false} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if withHeader {
				ctx = metadata.AppendToOutgoingContext(ctx, "x-mirrord-test", "yes")
			}
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: sample.GRPCService})
			cancel()
			if err != nil {
				t.Fatalf("gRPC call %d: %v", i, err)
			}
			want := sample.GRPCPodStatus
			if withHeader {
				want = healthpb.HealthCheckResponse_SERVING // the local server's status
			}
			if resp.Status != want {
				t.Fatalf("gRPC call %d (header %v): status %v, want %v", i, withHeader, resp.Status, want)
			}
		}
	})

}

func TestStealLookaheadFilter(t *testing.T) {
	c := getCluster(t)
	cfg := webConfig(c.e, `{"mode":"steal","http_filter":{"header_filter":"^User-Agent: (?!kube-probe)"}}`)
	startApp(t, c.e, writeConfig(t, cfg), server(t), "-addr", ":80")
	c.waitLocal(t, "/lookahead-warm", map[string]string{"User-Agent": "curl/8.0"}, 60*time.Second)
	hc := c.httpClient(true)
	for _, tt := range []struct {
		ua    string
		local bool
	}{{"kube-probe/1.33", false}, {"curl/8.0", true}, {"Kube-Probe/1.33", false}, {"Go-http-client/1.1", true}} {
		body, err := get(context.Background(), hc, c.web("/ua"), map[string]string{"User-Agent": tt.ua})
		if err != nil {
			t.Fatal(err)
		}
		if local := strings.HasPrefix(body, "LOCAL"); local != tt.local {
			t.Errorf("User-Agent %q: local=%v, want %v (%q)", tt.ua, local, tt.local, body)
		}
	}
}

func TestPortMappingAndListenPorts(t *testing.T) {
	c := getCluster(t)
	t.Run("port_mapping", func(t *testing.T) {
		app := startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"steal","port_mapping":[[9333,80]]}`)), server(t), "-addr", ":9333")
		c.waitLocal(t, "/mapped", nil, 60*time.Second)
		if n := len(app.requests("/mapped")); n == 0 {
			t.Fatal("the app on 9333 logged no request for port 80")
		}
		app.stop()
	})
	t.Run("listen_ports", func(t *testing.T) {
		app := startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"steal","listen_ports":[[80,4480]]}`)), server(t), "-addr", ":80")
		c.waitLocal(t, "/listen-ports", nil, 60*time.Second)
		out, err := c.e.LaptopCommand(context.Background(), "ss", "-Hltn").CombinedOutput()
		if err != nil {
			t.Fatalf("ss: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), ":4480 ") || strings.Contains(string(out), ":80 ") {
			t.Fatalf("want the app listening on 4480 and not on 80 in the laptop netns:\n%s", out)
		}
		if l := app.all("listening"); len(l) != 1 || !strings.HasSuffix(l[0].Addr, ":80") {
			t.Fatalf("the app's getsockname should report :80, it printed %+v", l)
		}
		app.stop()
	})
	t.Run("ignore_ports", func(t *testing.T) {
		app := startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"steal","ignore_ports":[80]}`)), server(t), "-addr", ":80")
		waitListening(t, app)
		hc := c.httpClient(false)
		for i := range 10 {
			body, err := get(context.Background(), hc, c.web(fmt.Sprintf("/ignored-%d", i)), nil)
			if err != nil || !fromPod(body) {
				t.Fatalf("an ignored port must stay with the pod: %q %v", body, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// And it listens locally for real.
		conn, err := c.e.LaptopDial(context.Background(), "tcp", "127.0.0.1:80")
		if err != nil {
			t.Fatalf("the ignored port does not listen locally: %v", err)
		}
		conn.Close()
		if n := len(app.requests("/ignored-")); n != 0 {
			t.Fatalf("the local app got %d requests of an ignored port", n)
		}
	})
}

func waitListening(t *testing.T, app *localApp) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(app.all("listening")) == 0 {
		select {
		case <-app.exited:
			t.Fatalf("the app exited before listening:\n%s", app.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app did not start listening within 60s:\n%s", app.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTargetlessSaysSo: a targetless run has no incoming traffic. Steal is
// a config error naming the file and key; mirror (the default) is
// reported, and the app listens locally.
func TestTargetlessSaysSo(t *testing.T) {
	c := getCluster(t)
	steal := writeConfig(t, `{"target":"targetless","feature":{"network":{"incoming":{"mode":"steal"}}}}`)
	app := startApp(t, c.e, steal, server(t), "-addr", "127.0.0.1:18090")
	<-app.exited
	if msg := app.stderr.String(); app.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(msg, steal+":1:") || !strings.Contains(msg, "feature.network.incoming.mode: steal needs a target") {
		t.Fatalf("want a config error naming the file, line and key, got exit %d:\n%s", app.cmd.ProcessState.ExitCode(), msg)
	}

	mirror := writeConfig(t, `{"target":"targetless","feature":{"network":{"incoming":{"mode":"mirror"}}}}`)
	app = startCmd(t, func(ctx context.Context) *exec.Cmd {
		cmd := c.e.Mirrord(t, ctx, "exec", "-f", mirror, "--", server(t), "-addr", "127.0.0.1:18090")
		cmd.Env = append(cmd.Env, "MIRRORD_PROGRESS_MODE=std")
		return cmd
	})
	waitListening(t, app)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(app.stderr.String(), "incoming traffic needs a target; port 18090 listens locally only") {
		if time.Now().After(deadline) {
			t.Fatalf("no targetless notice:\n%s", app.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	conn, err := c.e.LaptopDial(context.Background(), "tcp", "127.0.0.1:18090")
	if err != nil {
		t.Fatalf("the app does not listen locally: %v", err)
	}
	conn.Close()
	app.stop()
}
