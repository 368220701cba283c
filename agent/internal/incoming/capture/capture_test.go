//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func hostPort(host string, port int) string { return net.JoinHostPort(host, fmt.Sprint(port)) }

// TestRedirect drives traffic through both chains before and after
// Redirect and Unredirect: from another namespace over the veth
// (prerouting) and from inside the target (output), marked and not.
func TestRedirect(t *testing.T) {
	p := newPod(t)
	app(t, p.target, serverPort)
	app(t, p.target, otherPort)
	agent(t, p.target)
	c := mustOpen(t, p.target, "agent-1")

	type probe struct {
		name string
		from string // "client" or "target"
		addr string
		mark uint32
		// redirected is the original destination the agent must report
		// while serverPort is redirected; "" means the app answers.
		redirected string
	}
	probes := []probe{
		{"veth ipv4", "client", hostPort(podIP4, serverPort), 0, hostPort(podIP4, serverPort)},
		{"veth ipv6", "client", hostPort(podIP6, serverPort), 0, hostPort(podIP6, serverPort)},
		{"veth other port", "client", hostPort(podIP4, otherPort), 0, ""},
		// A mark means nothing to prerouting: only the agent's own
		// loopback dials are exempt.
		{"veth marked", "client", hostPort(podIP4, serverPort), testMark, hostPort(podIP4, serverPort)},
		{"loopback ipv4", "target", hostPort("127.0.0.1", serverPort), 0, hostPort("127.0.0.1", serverPort)},
		{"loopback ipv6", "target", hostPort("::1", serverPort), 0, hostPort("::1", serverPort)},
		{"own pod ip", "target", hostPort(podIP4, serverPort), 0, hostPort(podIP4, serverPort)},
		{"own pod ipv6", "target", hostPort(podIP6, serverPort), 0, hostPort(podIP6, serverPort)},
		{"loopback other port", "target", hostPort("127.0.0.1", otherPort), 0, ""},
		{"marked loopback", "target", hostPort("127.0.0.1", serverPort), testMark, ""},
		{"marked loopback ipv6", "target", hostPort("::1", serverPort), testMark, ""},
		{"marked own pod ip", "target", hostPort(podIP4, serverPort), testMark, ""},
		// Other bits around the mark (a mesh's) do not matter.
		{"mark with more bits", "target", hostPort("127.0.0.1", serverPort), testMark | 0x1, ""},
		{"another mark", "target", hostPort("127.0.0.1", serverPort), 0x4000, hostPort("127.0.0.1", serverPort)},
	}
	check := func(t *testing.T, redirected bool) {
		for _, pr := range probes {
			t.Run(pr.name, func(t *testing.T) {
				ns := p.client
				if pr.from == "target" {
					ns = p.target
				}
				port := serverPort
				if strings.HasSuffix(pr.addr, fmt.Sprint(otherPort)) {
					port = otherPort
				}
				want := fmt.Sprint("app ", port)
				if redirected && pr.redirected != "" {
					want = "agent " + pr.redirected
				}
				if got := greeting(t, ns, pr.addr, pr.mark); got != want {
					t.Errorf("dial %s from %s (mark %#x) answered %q; want %q", pr.addr, pr.from, pr.mark, got, want)
				}
			})
		}
	}

	t.Run("before", func(t *testing.T) { check(t, false) })
	for range 2 { // the second is a no-op
		if err := c.Redirect(serverPort); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("redirected", func(t *testing.T) { check(t, true) })
	for range 2 {
		if err := c.Unredirect(serverPort); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("unredirected", func(t *testing.T) { check(t, false) })
	if err := c.Redirect(serverPort); err != nil {
		t.Fatal(err)
	}
	t.Run("redirected again", func(t *testing.T) { check(t, true) })
}

func TestCaptureLifecycle(t *testing.T) {
	p := newPod(t)
	app(t, p.target, serverPort)
	const table = "inet mirrord_agent_x_1 owned"
	c := mustOpen(t, p.target, "agent.x-1")
	if got := tablesIn(t, p.target); !slices.Contains(got, table) {
		t.Fatalf("tables after Open = %v; want %q", got, table)
	}
	// The nft binary (apt package nftables), where installed, agrees.
	if out, err := nftList(p.name); err == nil {
		for _, want := range []string{"flags owner", `comment "agent.x-1"`, "tcp dport @ports redirect to :15000",
			`oifname "lo" meta mark & 0x00002000 != 0x00002000 tcp dport @ports redirect to :15000`} {
			if !strings.Contains(out, want) {
				t.Errorf("nft list ruleset lacks %q:\n%s", want, out)
			}
		}
	}
	if err := c.Redirect(serverPort); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if got := tablesIn(t, p.target); len(got) != 0 {
		t.Errorf("tables after Close = %v; want none", got)
	}
	if got := greeting(t, p.client, hostPort(podIP4, serverPort), 0); got != fmt.Sprint("app ", serverPort) {
		t.Errorf("after Close the app port answers %q", got)
	}
	for name, f := range map[string]func(uint16) error{"Redirect": c.Redirect, "Unredirect": c.Unredirect} {
		if err := f(serverPort); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", name, err)
		}
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	p := newPod(t)
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no owner", Options{NS: p.target, ListenPort: 1, Mark: 1}, "Owner is empty"},
		{"no port", Options{NS: p.target, Owner: "a", Mark: 1}, "ListenPort is zero"},
		{"no mark", Options{NS: p.target, Owner: "a", ListenPort: 1}, "Mark is zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(context.Background(), tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open = %v; want an error containing %q", err, tt.want)
			}
		})
	}
	c := mustOpen(t, p.target, "a")
	if err := c.Redirect(listenPort); err == nil {
		t.Error("Redirect of the listener's own port succeeded")
	}
}

func TestCheck(t *testing.T) {
	p := newPod(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Check(ctx, p.target); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if got := tablesIn(t, p.target); len(got) != 0 {
		t.Errorf("Check left tables %v", got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err         error
		unsupported bool
		want        string
	}{
		{unix.EPROTONOSUPPORT, true, "not available in the target's kernel"},
		{unix.ENOENT, true, "not available in the target's kernel"},
		{unix.EOPNOTSUPP, true, "not available in the target's kernel"},
		{&os.SyscallError{Syscall: "socket", Err: unix.EAFNOSUPPORT}, true, "not available in the target's kernel"},
		{unix.EPERM, false, "CAP_NET_ADMIN"},
		{unix.EBUSY, false, "creating: device or resource busy"},
	}
	for _, tt := range tests {
		err := classify("creating", tt.err)
		if errors.Is(err, ErrUnsupported) != tt.unsupported || !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("classify(%v) = %v; want unsupported %v and %q", tt.err, err, tt.unsupported, tt.want)
		}
	}
}

// TestRedirectedConnectionOutlivesUnredirect: a port given back sends new
// connections to the app, while one already redirected keeps talking to
// the agent for as long as the table lives (the Manager drains such
// connections before Close).
func TestRedirectedConnectionOutlivesUnredirect(t *testing.T) {
	p := newPod(t)
	app(t, p.target, serverPort)
	agent(t, p.target)
	c := mustOpen(t, p.target, "agent-1")
	if err := c.Redirect(serverPort); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from string
		ns         func() conn
	}{
		{"veth", "client", func() conn { return dial(t, p.client, hostPort(podIP4, serverPort), 0) }},
		{"loopback", "target", func() conn { return dial(t, p.target, hostPort("127.0.0.1", serverPort), 0) }},
	}
	held := make([]conn, len(tests))
	for i, tt := range tests {
		held[i] = tt.ns()
		if got := held[i].line(t); !strings.HasPrefix(got, "agent ") {
			t.Fatalf("%s: redirected connection greeted %q", tt.name, got)
		}
	}
	if err := c.Unredirect(serverPort); err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := io.WriteString(held[i], "still there\n"); err != nil {
				t.Fatalf("writing after Unredirect: %v", err)
			}
			if got := held[i].line(t); got != "still there" {
				t.Errorf("echo after Unredirect = %q", got)
			}
			if got := tt.ns().line(t); got != fmt.Sprint("app ", serverPort) {
				t.Errorf("a new connection after Unredirect greeted %q; want the app", got)
			}
		})
	}
}
