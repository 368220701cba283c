package httpsteal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// testLog is quiet unless HTTPSTEAL_DEBUG is set.
func testLog() *slog.Logger {
	if os.Getenv("HTTPSTEAL_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// backend is a stand-in for an app, the original one or a local one. It
// answers every request with its name and what it saw, and counts the
// connections its Destination dialled.
type backend struct {
	name  string
	addr  string
	dest  *Destination
	dials atomic.Int64

	mu   sync.Mutex
	seen []*http.Request

	// release lets a GET /stream response finish.
	release     chan struct{}
	releaseOnce sync.Once
}

// newBackend starts an HTTP/1.1 + h2c (prior knowledge) server. GET
// /upgrade with "Upgrade: echo" switches to a line echo, prefixed with the
// backend's name.
func newBackend(t testing.TB, name string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String(), release: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(b.serveHTTP), ErrorLog: slog.NewLogLogger(testLog().Handler(), slog.LevelDebug)}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	b.dest = NewDestination(name, b.dial)
	t.Cleanup(func() {
		b.finishStreams()
		srv.Close()
		<-done
		b.dest.CloseIdle()
	})
	return b
}

func (b *backend) dial(ctx context.Context) (net.Conn, error) {
	b.dials.Add(1)
	var d net.Dialer
	return d.DialContext(ctx, "tcp", b.addr)
}

func (b *backend) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	b.seen = append(b.seen, r)
	b.mu.Unlock()
	if r.URL.Path == "/upgrade" && r.Header.Get("Upgrade") == "echo" {
		b.echoUpgrade(w)
		return
	}
	if r.URL.Path == "/stream" {
		b.stream(w, r)
		return
	}
	w.Header().Set("X-Backend", b.name)
	w.Header().Set("X-Proto", r.Proto)
	w.Header().Set("X-Host", r.Host)
	w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
	fmt.Fprintf(w, "%s %s %s", b.name, r.URL.RequestURI(), body)
}

func (b *backend) echoUpgrade(w http.ResponseWriter) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	rw.Flush()
	for {
		line, err := rw.ReadString('\n')
		if err != nil {
			return
		}
		rw.WriteString(b.name + ": " + line)
		rw.Flush()
	}
}

// stream sends a first line at once and the second one only when
// finishStreams is called: a proxy that buffers fails the test.
func (b *backend) stream(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s first\n", b.name)
	http.NewResponseController(w).Flush()
	select {
	case <-b.release:
	case <-r.Context().Done():
		return
	}
	fmt.Fprintf(w, "%s second\n", b.name)
}

func (b *backend) finishStreams() { b.releaseOnce.Do(func() { close(b.release) }) }

// requests returns how many requests the backend answered.
func (b *backend) requests() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.seen)
}

// deadDestination cannot be dialled, like a local app that has stopped.
func deadDestination(name string, dials *atomic.Int64) *Destination {
	return NewDestination(name, func(context.Context) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("connect: connection refused")
	})
}

// stealFixture is the agent side: a loopback listener whose connections
// are each handed to Serve.
type stealFixture struct {
	addr string
	mu   sync.Mutex
	errs []error
}

func newSteal(t testing.TB, opts Options) *stealFixture {
	t.Helper()
	if opts.Log == nil {
		opts.Log = testLog()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &stealFixture{addr: ln.Addr().String()}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := Serve(ctx, c, opts); err != nil && !errors.Is(err, context.Canceled) {
					f.mu.Lock()
					f.errs = append(f.errs, err)
					f.mu.Unlock()
				}
			}()
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		wg.Wait()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, err := range f.errs {
			t.Errorf("Serve: %v", err)
		}
	})
	return f
}

func (f *stealFixture) dial(t testing.TB) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pickByFilter routes requests matching f to local.
func pickByFilter(t testing.TB, f protocol.HTTPFilter, local *Destination) func(*http.Request) *Destination {
	t.Helper()
	m, err := Compile(f)
	if err != nil {
		t.Fatal(err)
	}
	return func(r *http.Request) *Destination {
		if m.Match(r) {
			return local
		}
		return nil
	}
}

// readResponse reads one HTTP/1.1 response and its body.
func readResponse(t testing.TB, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return resp, string(body)
}

// leakMarkers identify goroutines that Serve, its HTTP servers and the
// destinations' pools run. None may outlive a test's cleanup.
var leakMarkers = []string{
	"httpsteal.Serve", "httpsteal.(*session)", "httpsteal.splice", "httpsteal.handler",
	"net/http.(*conn).serve", "net/http.(*persistConn)", "http2.(*serverConn)", "http2.(*ClientConn)",
	"http2.(*clientConnReadLoop)", "net/http/httputil.",
}

// checkLeaks fails the test if goroutines of the kinds above are still
// running after every other cleanup has run (so call it first).
func checkLeaks(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			leaked := leakedGoroutines()
			if len(leaked) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines left behind:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func leakedGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, m := range leakMarkers {
			if strings.Contains(g, m) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
