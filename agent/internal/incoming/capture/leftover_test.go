//go:build linux

package capture

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/nftables"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
)

// nftList shows the target's ruleset through the nft binary, when it is
// installed (apt package nftables); tests use it only as a second opinion.
func nftList(netns string) (string, error) {
	out, err := exec.Command("ip", "netns", "exec", netns, "nft", "list", "ruleset").CombinedOutput()
	return string(out), err
}

func TestLeftovers(t *testing.T) {
	type table struct {
		family nftables.TableFamily
		name   string
	}
	tests := []struct {
		name      string
		leftovers []table
		dirty     []string // reported without CleanLeftovers
		kept      []string // tables that must survive CleanLeftovers
	}{
		{"inet leftover", []table{{nftables.TableFamilyINet, "mirrord_dead"}}, []string{"inet mirrord_dead"}, nil},
		{"ip and ip6 leftovers", []table{{nftables.TableFamilyIPv4, "mirrord_old"}, {nftables.TableFamilyIPv6, "mirrord_old"}},
			[]string{"ip mirrord_old", "ip6 mirrord_old"}, nil},
		{"own name left over", []table{{nftables.TableFamilyINet, "mirrord_agent"}}, []string{"inet mirrord_agent"}, nil},
		{"other tables", []table{{nftables.TableFamilyINet, "filter"}, {nftables.TableFamilyIPv4, "mirrordx"}}, nil,
			[]string{"inet filter", "ip mirrordx"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPod(t)
			for _, l := range tt.leftovers {
				addTable(t, p.target, l.family, l.name)
			}
			o := Options{NS: p.target, Owner: "agent", ListenPort: listenPort, Mark: testMark, Log: testLog(t)}
			c, err := Open(context.Background(), o)
			var dirty *DirtyError
			switch {
			case tt.dirty == nil && err != nil:
				t.Fatalf("Open = %v; want success", err)
			case tt.dirty == nil:
				c.Close()
			case !errors.As(err, &dirty):
				if c != nil {
					c.Close()
				}
				t.Fatalf("Open = %v; want *DirtyError", err)
			default:
				slices.Sort(dirty.Tables)
				if !slices.Equal(dirty.Tables, tt.dirty) {
					t.Errorf("DirtyError.Tables = %v; want %v", dirty.Tables, tt.dirty)
				}
				if !strings.Contains(err.Error(), "agent.clean_iptables_on_start") {
					t.Errorf("DirtyError %q does not name agent.clean_iptables_on_start", err)
				}
				if got := tablesIn(t, p.target); len(got) != len(tt.leftovers) {
					t.Errorf("a failed Open changed the tables: %v", got)
				}
			}

			c = mustOpen(t, p.target, "agent", func(o *Options) { o.CleanLeftovers = true })
			got := tablesIn(t, p.target)
			want := append(slices.Clone(tt.kept), "inet mirrord_agent owned")
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("tables after Open with CleanLeftovers = %v; want %v", got, want)
			}
			c.Close()
		})
	}
}

func TestConflict(t *testing.T) {
	p := newPod(t)
	a := mustOpen(t, p.target, "agent-a")
	b := mustOpen(t, p.target, "agent-b")
	// The other agent's table is live: not a leftover.
	steps := []struct {
		c     *Capture
		port  uint16
		owner string // of the conflicting table, "" for success
	}{
		{a, serverPort, ""},
		{b, serverPort, "agent-a"},
		{b, otherPort, ""},
		{a, otherPort, "agent-b"},
		{a, serverPort, ""}, // its own port again
	}
	for i, s := range steps {
		err := s.c.Redirect(s.port)
		var conflict *ConflictError
		switch {
		case s.owner == "" && err != nil:
			t.Fatalf("step %d: Redirect(%d) = %v", i, s.port, err)
		case s.owner == "":
		case !errors.As(err, &conflict):
			t.Fatalf("step %d: Redirect(%d) = %v; want *ConflictError", i, s.port, err)
		case *conflict != ConflictError{Port: s.port, Owner: s.owner}:
			t.Errorf("step %d: %+v; want port %d owner %s", i, *conflict, s.port, s.owner)
		}
	}

	// The same identity while the first agent lives.
	if c, err := Open(context.Background(), Options{NS: p.target, Owner: "agent-a", ListenPort: listenPort, Mark: testMark}); err == nil {
		c.Close()
		t.Error("a second Open with a live agent's identity succeeded")
	} else if !strings.Contains(err.Error(), "already held by a live mirrord agent") {
		t.Errorf("second Open with a live identity = %v", err)
	}

	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Redirect(serverPort); err != nil {
		t.Errorf("Redirect after the other agent closed = %v", err)
	}
}

func TestFlushConnections(t *testing.T) {
	p := newPod(t)
	app(t, p.target, serverPort)
	agent(t, p.target)
	tests := []struct {
		name  string
		addr  string
		flush bool
	}{
		{"ipv4 flush", hostPort(podIP4, serverPort), true},
		{"ipv6 flush", hostPort(podIP6, serverPort), true},
		{"ipv4 no flush", hostPort(podIP4, serverPort), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustOpen(t, p.target, "agent", func(o *Options) { o.FlushConnections = tt.flush })
			// Established before the redirect: conntrack already tracks it
			// (the nat chains turned tracking on in the namespace).
			old := dial(t, p.client, tt.addr, 0)
			if got := old.line(t); got != fmt.Sprint("app ", serverPort) {
				t.Fatalf("before the redirect: %q", got)
			}
			local := old.LocalAddr().(*net.TCPAddr).AddrPort()
			if !established(t, p.target, local) {
				t.Fatalf("no ESTABLISHED conntrack entry for %s", local)
			}
			if err := c.Redirect(serverPort); err != nil {
				t.Fatal(err)
			}
			if got := established(t, p.target, local); got == tt.flush {
				t.Fatalf("after Redirect (flush %v) the entry of %s exists: %v", tt.flush, local, got)
			}
			// The old connection's next packet is redirected to a listener
			// that knows no such connection: reset. Without the flush it
			// still reaches the app.
			_, _ = old.Write([]byte("ping\n"))
			l, err := old.r.ReadString('\n')
			if tt.flush {
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("old connection after the flush read %q, %v; want ECONNRESET", l, err)
				}
			} else if err != nil || l != "ping\n" {
				t.Errorf("old connection without flush read %q, %v; want the echo", l, err)
			}
			if got, want := greeting(t, p.client, tt.addr, 0), "agent "+tt.addr; got != want {
				t.Errorf("new connection: %q; want %q", got, want)
			}
			c.Close()
		})
	}
}

// established reports whether ns has an ESTABLISHED TCP conntrack entry
// from src, read on a conntrack socket of the test's own.
func established(t *testing.T, ns nsenter.Namespace, src netip.AddrPort) bool {
	t.Helper()
	var flows []conntrack.Flow
	if err := ns.Do(func() error {
		ct, err := conntrack.Dial(nil)
		if err != nil {
			return err
		}
		defer ct.Close()
		flows, err = ct.Dump(nil)
		return err
	}); err != nil {
		t.Fatalf("listing conntrack entries: %v", err)
	}
	for _, f := range flows {
		o := f.TupleOrig
		if o.Proto.Protocol == unix.IPPROTO_TCP && o.IP.SourceAddress == src.Addr() && o.Proto.SourcePort == src.Port() &&
			f.ProtoInfo.TCP != nil && f.ProtoInfo.TCP.State == tcpConntrackEstablished {
			return true
		}
	}
	return false
}

// childEnv names the target netns for the helper process of
// TestSIGKILLLeavesNoTable.
const childEnv = "MIRRORD_CAPTURE_TEST_CHILD_NETNS"

func TestMain(m *testing.M) {
	if path := os.Getenv(childEnv); path != "" {
		holdCapture(path)
		return
	}
	m.Run()
}

// holdCapture is the child: it opens a Capture, says so and waits to be
// killed.
func holdCapture(path string) {
	c, err := Open(context.Background(), Options{NS: nsenter.FromPath(path, nsenter.Net), Owner: "child", ListenPort: listenPort, Mark: testMark})
	if err == nil {
		err = c.Redirect(serverPort)
	}
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("ready")
	select {}
}

func TestSIGKILLLeavesNoTable(t *testing.T) {
	p := newPod(t)
	app(t, p.target, serverPort)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+p.target.Path)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("child said %q, %v", line, err)
	}
	if got := tablesIn(t, p.target); !slices.Contains(got, "inet mirrord_child owned") {
		t.Fatalf("tables with the child alive = %v", got)
	}
	// Nobody but the owner may delete an owned table.
	if err := deleteTable(p.target, "mirrord_child"); err == nil {
		t.Error("another process deleted the child's owned table")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// The kernel deletes the table when it releases the socket, which
	// happens as the process exits, before Wait returns.
	if got := tablesIn(t, p.target); len(got) != 0 {
		t.Errorf("tables after SIGKILL = %v; want none", got)
	}
	if got := greeting(t, p.client, hostPort(podIP4, serverPort), 0); got != fmt.Sprint("app ", serverPort) {
		t.Errorf("after the agent died the app port answers %q", got)
	}
	// And a new agent starts clean.
	mustOpen(t, p.target, "child")
}

func deleteTable(ns nsenter.Namespace, name string) error {
	return ns.Do(func() error {
		c, err := nftables.New(nftables.AsLasting())
		if err != nil {
			return err
		}
		defer c.CloseLasting()
		c.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyINet})
		return c.Flush()
	})
}
