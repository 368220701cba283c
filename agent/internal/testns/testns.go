//go:build linux

// Package testns gives the agent's unit tests real namespaces to work in:
// a named network namespace and a "target" process living in it with its
// own hostname and environment, as a pod's container would. Tests need
// root; they fail (never skip) without it, since the agent's namespace
// code cannot be proven otherwise.
package testns

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Netns is a named network namespace with loopback up.
type Netns struct {
	Name string
	// Path is the bind mount of the namespace (/run/netns/<name>).
	Path string
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test creates network namespaces and needs root")
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// New creates a network namespace for the test and deletes it at cleanup.
// addrs are extra addresses (CIDR) put on its loopback.
func New(t testing.TB, addrs ...string) Netns {
	t.Helper()
	requireRoot(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	n := Netns{Name: "mirrord-agent-test-" + hex.EncodeToString(b)}
	n.Path = "/run/netns/" + n.Name
	run(t, "ip", "netns", "add", n.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", n.Name, err, out)
		}
	})
	run(t, "ip", "-n", n.Name, "link", "set", "lo", "up")
	for _, a := range addrs {
		run(t, "ip", "-n", n.Name, "addr", "add", a, "dev", "lo")
	}
	return n
}

// Process is a long-running process in the namespace with its own UTS
// namespace: a stand-in for a target container's main process.
type Process struct {
	PID int
}

// Start runs sleep inside n, in a new UTS namespace with the given
// hostname and exactly env as its environment (in order). It is killed at cleanup.
func (n Netns) Start(t testing.TB, hostname string, env []string) Process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// ip netns exec and unshare both exec in place, so the PID is sleep's.
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.Name, "unshare", "--uts", "sleep", "600")
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting a target process in %s: %v", n.Name, err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
		if strings.TrimSpace(string(comm)) == "sleep" {
			// Set from outside, so that no shell touches the environment.
			run(t, "nsenter", "-t", fmt.Sprint(cmd.Process.Pid), "-u", "hostname", hostname)
			return Process{PID: cmd.Process.Pid}
		}
		if time.Now().After(deadline) {
			t.Fatalf("target process %d did not reach sleep (comm %q)", cmd.Process.Pid, comm)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
