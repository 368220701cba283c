//go:build linux

package sniff

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/testns"
)

// waitFor bounds every wait in these tests.
const waitFor = 20 * time.Second

// fixture is a Sniffer in a namespace that records every copy it makes.
type fixture struct {
	t  *testing.T
	ns nsenter.Namespace
	s  *Sniffer
	// writer, if set, makes the consumer for a connection; the capture
	// then only records the Conn and the close.
	writer func(Conn, *capture) io.WriteCloser

	mu     sync.Mutex
	copies []*capture
	added  chan struct{}
}

// capture is one copy, as its consumer saw it.
type capture struct {
	conn      Conn
	mu        sync.Mutex
	buf       bytes.Buffer
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *capture) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
		return 0, io.ErrClosedPipe
	default:
	}
	return c.buf.Write(b)
}

func (c *capture) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

func (c *capture) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// wait returns the copy once it is closed.
func (c *capture) wait(t *testing.T) []byte {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(waitFor):
		t.Fatalf("the copy of %v was not closed", c.conn)
	}
	return c.bytes()
}

// testLog sends the sniffer's log to the test's.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// newFixture opens a sniffer in ns; opt may change its options.
func newFixture(t *testing.T, ns nsenter.Namespace, opt func(*Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, ns: ns, added: make(chan struct{}, 1)}
	o := Options{NS: ns, Log: testLog(t), Handler: f.handle}
	if opt != nil {
		opt(&o)
	}
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

func (f *fixture) handle(c Conn) io.WriteCloser {
	cp := &capture{conn: c, closed: make(chan struct{})}
	f.mu.Lock()
	f.copies = append(f.copies, cp)
	f.mu.Unlock()
	select {
	case f.added <- struct{}{}:
	default:
	}
	if f.writer != nil {
		return f.writer(c, cp)
	}
	return cp
}

func (f *fixture) captures() []*capture {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*capture(nil), f.copies...)
}

// waitCaptures waits until n copies were started.
func (f *fixture) waitCaptures(n int) []*capture {
	f.t.Helper()
	deadline := time.After(waitFor)
	for {
		if c := f.captures(); len(c) >= n {
			return c
		}
		select {
		case <-f.added:
		case <-deadline:
			f.t.Fatalf("%d copies started, want %d", len(f.captures()), n)
		}
	}
}

// find returns the copy of the connection from peer.
func (f *fixture) find(peer string) *capture {
	f.t.Helper()
	for _, c := range f.captures() {
		if c.conn.Peer.String() == peer {
			return c
		}
	}
	f.t.Fatalf("no copy of the connection from %s (copies: %v)", peer, f.captures())
	return nil
}

func (c *capture) String() string { return fmt.Sprint(c.conn) }

// listen opens a TCP listener in ns.
func listen(t testing.TB, ns nsenter.Namespace, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func port(ln net.Listener) uint16 { return uint16(ln.Addr().(*net.TCPAddr).Port) }

// received is what a sink server read from one connection.
type received struct {
	peer string
	n    int64
	sum  [32]byte
}

// sink accepts connections on ln and reads each to its end, at full
// speed, reporting what it read.
func sink(t *testing.T, ln net.Listener) <-chan received {
	t.Helper()
	out := make(chan received, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				h := sha256.New()
				n, _ := io.Copy(h, c)
				var r received
				r.peer, r.n = c.RemoteAddr().String(), n
				copy(r.sum[:], h.Sum(nil))
				out <- r
			})
		}
	})
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return out
}

func dial(t *testing.T, ns nsenter.Namespace, addr string) net.Conn {
	t.Helper()
	c, err := nsenter.Dialer{NS: ns}.Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func netnsOf(n testns.Netns) nsenter.Namespace { return nsenter.FromPath(n.Path, nsenter.Net) }

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// vethPair joins a "pod" namespace and a "client" namespace with a veth
// pair, eth0 on both sides, the pod at podIP and the client at clientIP
// (both in one /30). The addresses exist only inside the two namespaces.
func vethPair(t *testing.T, pod, client testns.Netns, podIP, clientIP string) {
	t.Helper()
	run(t, "ip", "-n", pod.Name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", client.Name)
	for _, side := range []struct{ ns, ip string }{{pod.Name, podIP}, {client.Name, clientIP}} {
		run(t, "ip", "-n", side.ns, "addr", "add", side.ip+"/30", "dev", "eth0")
		run(t, "ip", "-n", side.ns, "link", "set", "eth0", "up")
	}
}
