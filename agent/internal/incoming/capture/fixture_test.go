//go:build linux

package capture

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/testns"
)

const (
	listenPort = 15000  // the agent's listener
	serverPort = 8080   // the app's port that tests redirect
	otherPort  = 9090   // an app port that stays untouched
	testMark   = 0x2000 // upstream's passthrough mark
)

// pod is a target network namespace joined by a veth pair to a client
// namespace, as a pod is to the rest of the cluster.
type pod struct {
	target, client nsenter.Namespace
	name           string // of the target netns, for ip and nft
}

// Addresses of the target on the veth.
const (
	podIP4 = "10.77.0.1"
	podIP6 = "fd77::1"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newPod(t *testing.T) pod {
	t.Helper()
	tn, cn := testns.New(t), testns.New(t)
	// Interface names are per namespace, so fixed ones do not clash.
	run(t, "ip", "-n", tn.Name, "link", "add", "vpod", "type", "veth", "peer", "name", "vcli", "netns", cn.Name)
	for _, side := range []struct{ ns, dev, v4, v6 string }{
		{tn.Name, "vpod", podIP4, podIP6},
		{cn.Name, "vcli", "10.77.0.2", "fd77::2"},
	} {
		run(t, "ip", "-n", side.ns, "addr", "add", side.v4+"/24", "dev", side.dev)
		// nodad: usable at once, not tentative for a second.
		run(t, "ip", "-n", side.ns, "addr", "add", side.v6+"/64", "dev", side.dev, "nodad")
		run(t, "ip", "-n", side.ns, "link", "set", side.dev, "up")
	}
	return pod{
		target: nsenter.FromPath(tn.Path, nsenter.Net),
		client: nsenter.FromPath(cn.Path, nsenter.Net),
		name:   tn.Name,
	}
}

// server is a listener that greets each connection with a line and then
// echoes, so that connections stay established until the test ends.
type server struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

// serve listens on every address of ns at port and greets with
// greet(conn). It is stopped at cleanup.
func serve(t *testing.T, ns nsenter.Namespace, port int, greet func(net.Conn) string) {
	t.Helper()
	s := &server{conns: map[net.Conn]bool{}}
	if err := ns.Do(func() error {
		var err error
		s.ln, err = net.Listen("tcp", fmt.Sprintf(":%d", port)) // dual-stack [::]
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go s.accept(greet)
	t.Cleanup(func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

func (s *server) accept(greet func(net.Conn) string) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			if _, err := io.WriteString(c, greet(c)+"\n"); err != nil {
				return
			}
			_, _ = io.Copy(c, c)
		}()
	}
}

// app serves the target's real server on port, greeting "app <port>".
func app(t *testing.T, ns nsenter.Namespace, port int) {
	serve(t, ns, port, func(net.Conn) string { return fmt.Sprint("app ", port) })
}

// agent serves the agent's listener, greeting with the original
// destination of each connection.
func agent(t *testing.T, ns nsenter.Namespace) {
	serve(t, ns, listenPort, func(c net.Conn) string {
		dst, err := OriginalDst(c.(*net.TCPConn))
		if err != nil {
			return "agent error: " + err.Error()
		}
		return "agent " + dst.String()
	})
}

// conn is a client connection and its reader.
type conn struct {
	net.Conn
	r *bufio.Reader
}

// dial connects from ns to addr, with SO_MARK mark unless it is 0.
func dial(t *testing.T, ns nsenter.Namespace, addr string, mark uint32) conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, FallbackDelay: -1}
	if mark != 0 {
		d.Control = Control(mark)
	}
	var c net.Conn
	if err := ns.Do(func() error {
		var err error
		c, err = d.Dial("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return conn{Conn: c, r: bufio.NewReader(c)}
}

func (c conn) line(t *testing.T) string {
	t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading from %s: %v (got %q)", c.RemoteAddr(), err, l)
	}
	return strings.TrimSuffix(l, "\n")
}

// greeting dials addr from ns and returns the first line it answers.
func greeting(t *testing.T, ns nsenter.Namespace, addr string, mark uint32) string {
	t.Helper()
	c := dial(t, ns, addr, mark)
	defer c.Close()
	return c.line(t)
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// mustOpen opens a Capture in ns, closed at cleanup.
func mustOpen(t *testing.T, ns nsenter.Namespace, owner string, edit ...func(*Options)) *Capture {
	t.Helper()
	o := Options{NS: ns, Owner: owner, ListenPort: listenPort, Mark: testMark, Log: testLog(t)}
	for _, e := range edit {
		e(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Open(ctx, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", owner, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// tablesIn lists ns's tables as "family name" (with " owned" for owned
// ones), on a netlink socket of the test's own, as another process would.
// (google/nftables v0.3.0 decodes table flags in host byte order, so its
// ListTables cannot tell owned tables.)
func tablesIn(t *testing.T, ns nsenter.Namespace) []string {
	t.Helper()
	var out []string
	err := ns.Do(func() error {
		nl, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
		if err != nil {
			return err
		}
		defer nl.Close()
		ts, err := listTables(nl)
		if err != nil {
			return err
		}
		for _, tb := range ts {
			s := tb.String()
			if tb.live() {
				s += " owned"
			}
			out = append(out, s)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("listing tables: %v", err)
	}
	return out
}

// addTable creates an unowned table in ns, as a leftover would be.
func addTable(t *testing.T, ns nsenter.Namespace, family nftables.TableFamily, name string) {
	t.Helper()
	err := ns.Do(func() error {
		c, err := nftables.New(nftables.AsLasting())
		if err != nil {
			return err
		}
		defer c.CloseLasting()
		c.AddTable(&nftables.Table{Name: name, Family: family})
		return c.Flush()
	})
	if err != nil {
		t.Fatalf("adding table %s: %v", name, err)
	}
}
