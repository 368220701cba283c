//go:build linux

package sniff

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/testns"
)

// recConn records what a client sent on its connection.
type recConn struct {
	net.Conn
	mu   sync.Mutex
	sent bytes.Buffer
}

func (c *recConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.mu.Lock()
	c.sent.Write(b[:n])
	c.mu.Unlock()
	return n, err
}

func (c *recConn) sentBytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.sent.Bytes())
}

// TestHTTPKeepAlive: two keep-alive connections, two requests each, to a
// real HTTP server; each copy is exactly what its client sent, named by
// the client's and the server's addresses. Both ends share the
// namespace, so every packet crosses lo, where the tap sees it twice.
func TestHTTPKeepAlive(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			ns := netnsOf(testns.New(t))
			ln := listen(t, ns, net.JoinHostPort(host, "0"))
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s %d", r.URL.Path, len(body))
			})}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })

			f := newFixture(t, ns, nil)
			f.s.Watch(port(ln))

			var conns []*recConn
			var mu sync.Mutex
			for i := range 2 {
				tr := &http.Transport{
					MaxConnsPerHost: 1,
					DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
						c, err := nsenter.Dialer{NS: ns}.Dial(ctx, network, addr)
						if err != nil {
							return nil, err
						}
						rc := &recConn{Conn: c}
						mu.Lock()
						conns = append(conns, rc)
						mu.Unlock()
						return rc, nil
					},
				}
				client := &http.Client{Transport: tr}
				for j := range 2 {
					url := fmt.Sprintf("http://%s/conn%d/req%d", ln.Addr(), i, j)
					resp, err := client.Post(url, "text/plain", strings.NewReader(strings.Repeat("x", 100*(j+1))))
					if err != nil {
						t.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				tr.CloseIdleConnections()
			}
			if len(conns) != 2 {
				t.Fatalf("the clients opened %d connections, want 2 (keep-alive)", len(conns))
			}
			f.waitCaptures(2)
			if got := len(f.captures()); got != 2 {
				t.Errorf("%d copies, want 2", got)
			}
			local := netip.MustParseAddrPort(ln.Addr().String())
			for _, c := range conns {
				cp := f.find(c.LocalAddr().String())
				if cp.conn.Local != local {
					t.Errorf("copy of %s: Local %v, want %v", c.LocalAddr(), cp.conn.Local, local)
				}
				got, want := cp.wait(t), c.sentBytes()
				if !bytes.Equal(got, want) {
					t.Errorf("copy of %s:\n%q\nwant\n%q", c.LocalAddr(), got, want)
				}
				if n := bytes.Count(got, []byte("POST ")); n != 2 {
					t.Errorf("copy of %s has %d requests, want 2", c.LocalAddr(), n)
				}
			}
			// Loopback counted once: the filter drops lo's sent copies, and
			// no byte reached the reassembler twice.
			if n := f.s.stats.loOutgoing.Load(); n != 0 {
				t.Errorf("%d sent copies of lo packets reached Go, want 0 (the filter drops them)", n)
			}
			if n := f.s.stats.dupBytes.Load(); n != 0 {
				t.Errorf("%d bytes were seen twice, want 0", n)
			}
		})
	}
}

// TestVeth: a client in another namespace reaches the pod over a veth;
// the client's packets arrive as received and the server's leave as sent.
func TestVeth(t *testing.T) {
	pod, client := testns.New(t), testns.New(t)
	vethPair(t, pod, client, "10.251.0.1", "10.251.0.2")
	podNS, clientNS := netnsOf(pod), netnsOf(client)
	ln := listen(t, podNS, "10.251.0.1:0")
	got := sink(t, ln)
	f := newFixture(t, podNS, nil)
	f.s.Watch(port(ln))

	data := make([]byte, 2<<20)
	rand.Read(data)
	c := dial(t, clientNS, ln.Addr().String())
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.Close()
	r := <-got
	want := sha256.Sum256(data)
	if r.n != int64(len(data)) || r.sum != want {
		t.Fatalf("the server read %d bytes (sum ok %v), want %d", r.n, r.sum == want, len(data))
	}
	cp := f.waitCaptures(1)[0]
	if cp.conn.Peer.String() != c.LocalAddr().String() || cp.conn.Local.String() != ln.Addr().String() {
		t.Errorf("Conn %v, want peer %s local %s", cp.conn, c.LocalAddr(), ln.Addr())
	}
	if b := cp.wait(t); sha256.Sum256(b) != want {
		t.Errorf("the copy has %d bytes and the wrong sum, want %d bytes", len(b), len(data))
	}
}

// TestOnlyWatchedPorts: the kernel filter passes nothing for unwatched
// ports or UDP, and a connection to an unwatched port is not copied.
func TestOnlyWatchedPorts(t *testing.T) {
	ns := netnsOf(testns.New(t))
	watched, other := listen(t, ns, "127.0.0.1:0"), listen(t, ns, "127.0.0.1:0")
	gotW, gotO := sink(t, watched), sink(t, other)
	f := newFixture(t, ns, nil)
	f.s.Watch(port(watched))

	c := dial(t, ns, other.Addr().String())
	_, _ = io.WriteString(c, "not for the sniffer")
	c.Close()
	<-gotO
	var udp net.PacketConn
	if err := ns.Do(func() error {
		var err error
		udp, err = net.ListenPacket("udp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port(watched))}
	for range 10 {
		_, _ = udp.WriteTo([]byte("udp to the watched port"), dst)
	}
	time.Sleep(200 * time.Millisecond)
	if n := f.s.stats.packets.Load(); n != 0 {
		t.Errorf("%d packets reached the sniffer before any watched traffic, want 0", n)
	}

	c = dial(t, ns, watched.Addr().String())
	_, _ = io.WriteString(c, "for the sniffer")
	c.Close()
	<-gotW
	cp := f.waitCaptures(1)[0]
	if got := string(cp.wait(t)); got != "for the sniffer" {
		t.Errorf("copy %q", got)
	}
	if n := len(f.captures()); n != 1 {
		t.Errorf("%d copies, want 1: %v", n, f.captures())
	}

	// After Unwatch the port is left alone again.
	f.s.Unwatch(port(watched))
	c = dial(t, ns, watched.Addr().String())
	_, _ = io.WriteString(c, "after unwatch")
	c.Close()
	<-gotW
	time.Sleep(200 * time.Millisecond)
	if n := len(f.captures()); n != 1 {
		t.Errorf("%d copies after Unwatch, want 1", n)
	}
}

// TestStartsAtHandshake: a connection opened before Watch is not copied
// (its stream has no known start); the next one is.
func TestStartsAtHandshake(t *testing.T) {
	ns := netnsOf(testns.New(t))
	ln := listen(t, ns, "127.0.0.1:0")
	got := sink(t, ln)
	f := newFixture(t, ns, nil)

	early := dial(t, ns, ln.Addr().String())
	_, _ = io.WriteString(early, "before watch ")
	f.s.Watch(port(ln))
	time.Sleep(100 * time.Millisecond)
	_, _ = io.WriteString(early, "after watch")
	early.Close()
	<-got

	c := dial(t, ns, ln.Addr().String())
	_, _ = io.WriteString(c, "new")
	c.Close()
	<-got
	cps := f.waitCaptures(1)
	if len(cps) != 1 || cps[0].conn.Peer.String() != c.LocalAddr().String() {
		t.Fatalf("copies %v, want only %s", cps, c.LocalAddr())
	}
	if b := cps[0].wait(t); string(b) != "new" {
		t.Errorf("copy %q", b)
	}
}

// TestLargeTransfer: 8 MiB over lo, copied intact. The copy's buffer can
// hold it all: this is about the capture and the reassembly, not about a
// consumer keeping up with lo (under -race it does not; see
// TestSlowConsumer for what happens then).
func TestLargeTransfer(t *testing.T) {
	ns := netnsOf(testns.New(t))
	ln := listen(t, ns, "127.0.0.1:0")
	got := sink(t, ln)
	f := newFixture(t, ns, func(o *Options) { o.MaxBuffered = 16 << 20 })
	f.s.Watch(port(ln))

	data := make([]byte, 8<<20)
	rand.Read(data)
	c := dial(t, ns, ln.Addr().String())
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.Close()
	want := sha256.Sum256(data)
	if r := <-got; r.sum != want {
		t.Fatalf("the server read %d bytes, wrong sum", r.n)
	}
	b := f.waitCaptures(1)[0].wait(t)
	if len(b) != len(data) || sha256.Sum256(b) != want {
		t.Fatalf("the copy has %d bytes (want %d), sum ok %v", len(b), len(data), sha256.Sum256(b) == want)
	}
}

// blockingWriter is a consumer that never keeps up: Write blocks until
// Close.
type blockingWriter struct {
	cp     *capture
	closed chan struct{}
	once   sync.Once
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	<-w.closed
	return 0, io.ErrClosedPipe
}

func (w *blockingWriter) Close() error {
	w.once.Do(func() { close(w.closed); w.cp.Close() })
	return nil
}

// TestSlowConsumer: a consumer that stops reading loses its copy, which
// is closed; the connection it copied runs to its end regardless, and
// another connection's copy is intact.
func TestSlowConsumer(t *testing.T) {
	ns := netnsOf(testns.New(t))
	slow, fast := listen(t, ns, "127.0.0.1:0"), listen(t, ns, "127.0.0.1:0")
	gotSlow, gotFast := sink(t, slow), sink(t, fast)
	// More than the fast copy's whole stream, which therefore never
	// overflows however the goroutines are scheduled.
	f := newFixture(t, ns, func(o *Options) { o.MaxBuffered = 2 << 20 })
	f.writer = func(c Conn, cp *capture) io.WriteCloser {
		if c.Local.Port() == port(slow) {
			return &blockingWriter{cp: cp, closed: make(chan struct{})}
		}
		return cp
	}
	f.s.Watch(port(slow))
	f.s.Watch(port(fast))

	slowData, fastData := make([]byte, 4<<20), make([]byte, 1<<20)
	rand.Read(slowData)
	rand.Read(fastData)
	var wg sync.WaitGroup
	for _, x := range []struct {
		ln   net.Listener
		data []byte
	}{{slow, slowData}, {fast, fastData}} {
		c := dial(t, ns, x.ln.Addr().String())
		wg.Go(func() {
			if _, err := c.Write(x.data); err != nil {
				t.Error(err)
			}
			c.Close()
		})
	}
	wg.Wait()
	if r := <-gotSlow; r.sum != sha256.Sum256(slowData) {
		t.Errorf("the slow-copied connection's server read %d bytes, wrong sum", r.n)
	}
	if r := <-gotFast; r.sum != sha256.Sum256(fastData) {
		t.Errorf("the other server read %d bytes, wrong sum", r.n)
	}
	for _, cp := range f.waitCaptures(2) {
		b := cp.wait(t) // the slow one is closed too: dropped
		if cp.conn.Local.Port() == port(fast) && !bytes.Equal(b, fastData) {
			t.Errorf("the fast copy has %d bytes, want %d intact", len(b), len(fastData))
		}
	}
}

// TestIdleTimeout: a copy whose connection is quiet ends while the
// connection stays open.
func TestIdleTimeout(t *testing.T) {
	ns := netnsOf(testns.New(t))
	ln := listen(t, ns, "127.0.0.1:0")
	sink(t, ln)
	f := newFixture(t, ns, func(o *Options) { o.IdleTimeout = 500 * time.Millisecond })
	f.s.Watch(port(ln))
	c := dial(t, ns, ln.Addr().String())
	_, _ = io.WriteString(c, "then silence")
	start := time.Now()
	if b := f.waitCaptures(1)[0].wait(t); string(b) != "then silence" {
		t.Errorf("copy %q", b)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the idle copy ended after %v", d)
	}
}

// sniffGoroutines lists the goroutines running this package's code,
// other than tests.
func sniffGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "sniff.(*Sniffer)") || strings.Contains(g, "sniff.(*copier)") {
			out = append(out, g)
		}
	}
	return out
}

// TestClose: Close (or the context's end) closes every open copy, also
// one whose consumer is stuck in Write, and leaves no goroutine behind.
func TestClose(t *testing.T) {
	for _, viaCtx := range []bool{false, true} {
		t.Run(fmt.Sprintf("context=%v", viaCtx), func(t *testing.T) {
			ns := netnsOf(testns.New(t))
			stuck, open := listen(t, ns, "127.0.0.1:0"), listen(t, ns, "127.0.0.1:0")
			sink(t, stuck)
			sink(t, open)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f := &fixture{t: t, ns: ns, added: make(chan struct{}, 1)}
			f.writer = func(c Conn, cp *capture) io.WriteCloser {
				if c.Local.Port() == port(stuck) {
					return &blockingWriter{cp: cp, closed: make(chan struct{})}
				}
				return cp
			}
			s, err := Open(ctx, Options{NS: ns, Log: testLog(t), Handler: f.handle})
			if err != nil {
				t.Fatal(err)
			}
			s.Watch(port(stuck))
			s.Watch(port(open))
			for _, ln := range []net.Listener{stuck, open} {
				c := dial(t, ns, ln.Addr().String())
				_, _ = io.WriteString(c, "still open")
			}
			cps := f.waitCaptures(2)
			deadline := time.Now().Add(waitFor)
			for _, cp := range cps {
				for cp.conn.Local.Port() == port(open) && string(cp.bytes()) != "still open" {
					if time.Now().After(deadline) {
						t.Fatalf("copy %q", cp.bytes())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			if viaCtx {
				cancel()
			} else if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			for _, cp := range cps {
				cp.wait(t)
			}
			for time.Now().Before(deadline) && len(sniffGoroutines()) > 0 {
				time.Sleep(10 * time.Millisecond)
			}
			if g := sniffGoroutines(); len(g) > 0 {
				t.Fatalf("goroutines left after Close:\n%s", strings.Join(g, "\n\n"))
			}
			if err := s.Close(); err != nil {
				t.Errorf("a second Close: %v", err)
			}
		})
	}
}

// TestUnwatchEndsCopies: Unwatch finishes the copies of the port's open
// connections, which the filter no longer passes; the connection goes on.
func TestUnwatchEndsCopies(t *testing.T) {
	ns := netnsOf(testns.New(t))
	ln := listen(t, ns, "127.0.0.1:0")
	got := sink(t, ln)
	f := newFixture(t, ns, nil)
	f.s.Watch(port(ln))
	c := dial(t, ns, ln.Addr().String())
	_, _ = io.WriteString(c, "copied ")
	cp := f.waitCaptures(1)[0]
	for deadline := time.Now().Add(waitFor); string(cp.bytes()) != "copied "; {
		if time.Now().After(deadline) {
			t.Fatalf("copy %q", cp.bytes())
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.s.Unwatch(port(ln))
	if b := cp.wait(t); string(b) != "copied " {
		t.Errorf("copy %q", b)
	}
	_, _ = io.WriteString(c, "not copied")
	c.Close()
	if r := <-got; r.n != int64(len("copied not copied")) {
		t.Errorf("the server read %d bytes", r.n)
	}
}
