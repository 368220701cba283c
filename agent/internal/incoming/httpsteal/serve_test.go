package httpsteal

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

var userFilter = protocol.HTTPFilter{Header: "^x-mirrord-user: me$"}

// stealPair is the common setup: an original and a local app, and a steal
// that sends requests with "X-Mirrord-User: me" to the local one.
type stealPair struct {
	original, local *backend
	steal           *stealFixture
}

func newStealPair(t *testing.T) *stealPair {
	checkLeaks(t)
	p := &stealPair{original: newBackend(t, "original"), local: newBackend(t, "local")}
	p.steal = newSteal(t, Options{Original: p.original.dest, Pick: pickByFilter(t, userFilter, p.local.dest)})
	return p
}

func TestServeHTTP1KeepAlive(t *testing.T) {
	p := newStealPair(t)
	conn := p.steal.dial(t)
	br := bufio.NewReader(conn)
	tests := []struct {
		name, method, path, user, body string
		want                           string
	}{
		{"matching", "GET", "/a", "me", "", "local /a "},
		{"not matching", "GET", "/b", "", "", "original /b "},
		{"other user", "GET", "/c?q=1", "you", "", "original /c?q=1 "},
		{"matching with body", "POST", "/d", "me", "hello", "local /d hello"},
		{"header value case", "GET", "/e", "ME", "", "local /e "},
		{"not matching with body", "PUT", "/f", "", "world", "original /f world"},
		{"matching again", "GET", "/g", "me", "", "local /g "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: svc.example:8080\r\nX-Forwarded-For: 10.9.9.9\r\n", tt.method, tt.path)
			if tt.user != "" {
				fmt.Fprintf(&b, "X-Mirrord-User: %s\r\n", tt.user)
			}
			fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(tt.body), tt.body)
			if _, err := io.WriteString(conn, b.String()); err != nil {
				t.Fatal(err)
			}
			resp, body := readResponse(t, br)
			if body != tt.want {
				t.Errorf("body %q, want %q", body, tt.want)
			}
			if resp.Close {
				t.Errorf("the steal closed the keep-alive connection")
			}
			if h := resp.Header.Get("X-Host"); h != "svc.example:8080" {
				t.Errorf("backend saw Host %q, want the client's", h)
			}
			if xff := resp.Header.Get("X-Seen-XFF"); xff != "10.9.9.9" {
				t.Errorf("backend saw X-Forwarded-For %q, want the client's own", xff)
			}
		})
	}
	if o, l := p.original.requests(), p.local.requests(); o != 3 || l != 4 {
		t.Errorf("original answered %d, local %d; want 3 and 4", o, l)
	}
}

func TestServeUpgrade(t *testing.T) {
	p := newStealPair(t)
	tests := []struct{ name, user, want string }{
		{"to local", "me", "local: ping\n"},
		{"to original", "", "original: ping\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := p.steal.dial(t)
			req := "GET /upgrade HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: echo\r\n"
			if tt.user != "" {
				req += "X-Mirrord-User: " + tt.user + "\r\n"
			}
			io.WriteString(conn, req+"\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", resp.StatusCode)
			}
			for range 3 {
				io.WriteString(conn, "ping\n")
				line, err := br.ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if line != tt.want {
					t.Fatalf("echo %q, want %q", line, tt.want)
				}
			}
		})
	}
}

// h2cClient is an HTTP/2 client over cleartext that dials the steal and
// counts its connections.
func h2cClient(t *testing.T, addr string, dials *atomic.Int64) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestServeH2CPriorKnowledge(t *testing.T) {
	p := newStealPair(t)
	var dials atomic.Int64
	client := h2cClient(t, p.steal.addr, &dials)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", fmt.Sprintf("http://svc.example/s%d", i), nil)
			want := "original"
			if i%2 == 0 {
				req.Header.Set("X-Mirrord-User", "me")
				want = "local"
			}
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := resp.Header.Get("X-Backend"); got != want || resp.Header.Get("X-Proto") != "HTTP/2.0" {
				errs <- fmt.Errorf("stream %d: answered by %s over %s (%q), want %s over HTTP/2.0",
					i, got, resp.Header.Get("X-Proto"), body, want)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d := dials.Load(); d != 1 {
		t.Errorf("client dialled %d connections, want the streams multiplexed on 1", d)
	}
	if o, l := p.original.requests(), p.local.requests(); o != n/2 || l != n/2 {
		t.Errorf("original answered %d, local %d; want %d each", o, l, n/2)
	}
}

func TestServeH2CUpgrade(t *testing.T) {
	p := newStealPair(t)
	conn := p.steal.dial(t)
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// SETTINGS_MAX_CONCURRENT_STREAMS = 100, base64url.
	io.WriteString(conn, "GET /first HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade, HTTP2-Settings\r\n"+
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\nX-Mirrord-User: me\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "h2c" {
		t.Fatalf("upgrade answered %s %v", resp.Status, resp.Header)
	}
	c := newH2Conn(t, conn, br)
	c.get(3, "/second", nil)
	c.get(5, "/third", map[string]string{"x-mirrord-user": "me"})
	c.get(7, "/fourth", map[string]string{"x-mirrord-user": "someone"})
	got := c.responses(4)
	want := map[uint32]string{1: "local /first ", 3: "original /second ", 5: "local /third ", 7: "original /fourth "}
	for id, w := range want {
		r := got[id]
		if r.status != "200" || r.body != w {
			t.Errorf("stream %d: %s %q, want 200 %q", id, r.status, r.body, w)
		}
		if r.headers["x-proto"] != "HTTP/2.0" {
			t.Errorf("stream %d reached the backend as %q, want HTTP/2.0", id, r.headers["x-proto"])
		}
	}
}

func TestServeStreaming(t *testing.T) {
	tests := []struct {
		name string
		h2   bool
		user string
		want string
	}{
		{"http1 chunked to local", false, "me", "local"},
		{"http1 chunked to original", false, "", "original"},
		{"h2 to local", true, "me", "local"},
		{"h2 to original", true, "", "original"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newStealPair(t)
			var client *http.Client
			if tt.h2 {
				var dials atomic.Int64
				client = h2cClient(t, p.steal.addr, &dials)
			} else {
				tr := &http.Transport{}
				t.Cleanup(tr.CloseIdleConnections)
				client = &http.Client{Transport: tr}
			}
			req, _ := http.NewRequest("GET", "http://"+p.steal.addr+"/stream", nil)
			if tt.user != "" {
				req.Header.Set("X-Mirrord-User", tt.user)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := client.Do(req.WithContext(ctx))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			// The backend holds the second line back, so this only
			// returns if the first one was flushed through the steal.
			line, err := br.ReadString('\n')
			if err != nil || line != tt.want+" first\n" {
				t.Fatalf("first line %q, %v; want %q", line, err, tt.want+" first\n")
			}
			p.original.finishStreams()
			p.local.finishStreams()
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != tt.want+" second\n" {
				t.Fatalf("rest %q, %v", rest, err)
			}
		})
	}
}

// rawBackend is a TCP echo server standing in for a non-HTTP app. With
// greeting set it speaks first. It passes on the client's half-close.
func rawBackend(t *testing.T, greeting string) *Destination {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if greeting != "" {
					io.WriteString(c, greeting)
				}
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	d := NewDestination("original", func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", ln.Addr().String())
	})
	t.Cleanup(d.CloseIdle)
	return d
}

func TestServeRaw(t *testing.T) {
	tests := []struct {
		name     string
		greeting string // the server speaks first
		send     string
		want     string
	}{
		{"tls-like binary", "", "\x16\x03\x01\x00\x05hello", "\x16\x03\x01\x00\x05hello"},
		{"redis inline", "", "PING\r\n", "PING\r\n"},
		{"not quite http", "", "GET / SSH-2.0\r\n", "GET / SSH-2.0\r\n"},
		{"server speaks first", "220 smtp ready\r\n", "", "220 smtp ready\r\n"},
		{"server first, then client", "220 smtp ready\r\n", "QUIT\r\n", "220 smtp ready\r\nQUIT\r\n"},
		{"half-close with no bytes", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			var localDials atomic.Int64
			local := deadDestination("local", &localDials)
			steal := newSteal(t, Options{
				Original:      rawBackend(t, tt.greeting),
				Pick:          func(*http.Request) *Destination { return local },
				DetectTimeout: 100 * time.Millisecond,
			})
			conn := steal.dial(t).(*net.TCPConn)
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if tt.greeting != "" {
				// Only after the greeting: the client waits for the server.
				buf := make([]byte, len(tt.greeting))
				if _, err := io.ReadFull(conn, buf); err != nil {
					t.Fatalf("read greeting: %v", err)
				}
			}
			io.WriteString(conn, tt.send)
			conn.CloseWrite()
			rest, err := io.ReadAll(conn)
			if err != nil {
				t.Fatalf("read until the original's half-close: %v", err)
			}
			got := string(rest)
			if tt.greeting != "" {
				got = tt.greeting + got
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if n := localDials.Load(); n != 0 {
				t.Errorf("the local app was dialled %d times for a raw connection", n)
			}
		})
	}
}

func TestServeLocalUnreachable(t *testing.T) {
	tests := []struct {
		name       string
		h2         bool
		method     string
		body       string
		killOrigin bool
		wantStatus int
		wantBody   string
	}{
		{"http1 get falls back", false, "GET", "", false, 200, "original /x "},
		{"http1 post keeps its body", false, "POST", "payload", false, 200, "original /x payload"},
		{"h2 get falls back", true, "GET", "", false, 200, "original /x "},
		{"h2 post keeps its body", true, "POST", "payload", false, 200, "original /x payload"},
		{"original unreachable too", false, "GET", "", true, 502, "mirrord: original did not answer\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			var localDials, origDials atomic.Int64
			local := deadDestination("local", &localDials)
			original := newBackend(t, "original").dest
			if tt.killOrigin {
				original = deadDestination("original", &origDials)
			}
			steal := newSteal(t, Options{Original: original, Pick: func(*http.Request) *Destination { return local }})
			var client *http.Client
			if tt.h2 {
				var dials atomic.Int64
				client = h2cClient(t, steal.addr, &dials)
			} else {
				tr := &http.Transport{}
				t.Cleanup(tr.CloseIdleConnections)
				client = &http.Client{Transport: tr}
			}
			for i := range 3 { // the same connection each time
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
				}
				req, _ := http.NewRequest(tt.method, "http://"+steal.addr+"/x", body)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.wantStatus || string(got) != tt.wantBody {
					t.Errorf("request %d: %d %q, want %d %q", i, resp.StatusCode, got, tt.wantStatus, tt.wantBody)
				}
			}
			if localDials.Load() == 0 {
				t.Errorf("the local app was never tried")
			}
		})
	}
}

func TestServeStopsOnCancel(t *testing.T) {
	tests := []struct {
		name  string
		start func(t *testing.T, c net.Conn)
	}{
		{"waiting for the first bytes", func(*testing.T, net.Conn) {}},
		{"idle http1 keep-alive", func(t *testing.T, c net.Conn) {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: svc\r\n\r\n")
			readResponse(t, bufio.NewReader(c))
		}},
		{"request in flight to a hanging app", func(t *testing.T, c net.Conn) {
			io.WriteString(c, "GET /hang HTTP/1.1\r\nHost: svc\r\n\r\n")
			time.Sleep(50 * time.Millisecond)
		}},
		{"idle h2", func(t *testing.T, c net.Conn) {
			h := newH2Conn(t, c, c)
			h.get(1, "/", nil)
			h.responses(1)
		}},
		{"upgraded", func(t *testing.T, c net.Conn) {
			io.WriteString(c, "GET /upgrade HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
			br := bufio.NewReader(c)
			if _, err := http.ReadResponse(br, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"raw", func(t *testing.T, c net.Conn) { io.WriteString(c, "\x00\x01binary") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			original := newBackend(t, "original")
			hang := hangingDestination(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- Serve(ctx, server, Options{
					Original: original.dest,
					Pick: func(r *http.Request) *Destination {
						if r.URL.Path == "/hang" {
							return hang
						}
						return nil
					},
					DetectTimeout: time.Minute,
					Log:           testLog(),
				})
			}()
			client.SetDeadline(time.Now().Add(10 * time.Second))
			tt.start(t, client)
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return after cancel")
			}
			// EOF or a reset: either way not a timeout.
			if _, err := io.Copy(io.Discard, client); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Serve returned but left the client connection open")
			}
		})
	}
}

func TestServeReturnsWhenClientLeaves(t *testing.T) {
	const upgrade = "GET /hang HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade, HTTP2-Settings\r\n" +
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABk\r\n\r\n"
	tests := []struct {
		name  string
		start func(t *testing.T, c net.Conn)
	}{
		{"http1 request in flight", func(t *testing.T, c net.Conn) {
			io.WriteString(c, "GET /hang HTTP/1.1\r\nHost: svc\r\n\r\n")
		}},
		{"h2 stream in flight", func(t *testing.T, c net.Conn) {
			newH2Conn(t, c, c).get(1, "/hang", nil)
		}},
		{"h2c upgrade request in flight", func(t *testing.T, c net.Conn) {
			io.WriteString(c, upgrade)
		}},
		{"h2c upgraded stream in flight", func(t *testing.T, c net.Conn) {
			io.WriteString(c, strings.Replace(upgrade, "/hang", "/", 1))
			br := bufio.NewReader(c)
			if _, err := http.ReadResponse(br, nil); err != nil {
				t.Fatal(err)
			}
			h := newH2Conn(t, c, br)
			h.responses(1)
			h.get(3, "/hang", nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			original := newBackend(t, "original")
			hang := hangingDestination(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			// A cancellable context, as the agent's is: with one that
			// cannot be cancelled ReverseProxy would watch the client
			// by itself, and the test would prove nothing.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			var picked atomic.Int64
			go func() {
				done <- Serve(ctx, server, Options{
					Original: original.dest,
					Pick: func(r *http.Request) *Destination {
						if r.URL.Path == "/hang" {
							picked.Add(1)
							return hang
						}
						return nil
					},
					Log: testLog(),
				})
			}()
			client.SetDeadline(time.Now().Add(10 * time.Second))
			tt.start(t, client)
			for picked.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			client.Close()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return after the client left")
			}
		})
	}
}

// hangingDestination accepts requests (HTTP/1.1 and h2c) and never
// answers them.
func hangingDestination(t *testing.T) *Destination {
	stop := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	d := NewDestination("hang", func(ctx context.Context) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "tcp", ln.Addr().String())
	})
	t.Cleanup(func() { close(stop); srv.Close(); <-done; d.CloseIdle() })
	return d
}
