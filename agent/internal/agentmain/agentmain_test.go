//go:build linux

package agentmain

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/mirrord-go/mirrord/agent/internal/target"
	"github.com/mirrord-go/mirrord/agent/internal/testns"
	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/internal/buildinfo"
)

const token = "agentmain-token"

var tokenHash = func() string { h := protocol.TokenHash(token); return hex.EncodeToString(h[:]) }()

// syncBuffer is a bytes.Buffer safe for the agent's writes and the test's
// reads at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run is one agent run in the background.
type run struct {
	stdout, stderr syncBuffer
	code           chan int
	cancel         context.CancelFunc
}

func start(t *testing.T, args []string, env map[string]string, finder target.Finder) *run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{code: make(chan int, 1), cancel: cancel}
	go func() {
		r.code <- Run(ctx, args, func(k string) string { return env[k] }, &r.stdout, &r.stderr, finder)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case c := <-r.code:
			r.code <- c
		case <-time.After(10 * time.Second):
			t.Error("the agent did not stop after cancel")
		}
	})
	return r
}

func (r *run) exit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case c := <-r.code:
		r.code <- c
		return c
	case <-time.After(within):
		t.Fatalf("the agent did not exit within %s; stderr:\n%s", within, r.stderr.String())
		return -1
	}
}

func (r *run) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(r.stdout.String(), "agent ready") {
		if time.Now().After(deadline) {
			t.Fatalf("no ready line; stderr:\n%s", r.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got, want := r.stdout.String(), ReadyLine(buildinfo.Version)+"\n"; got != want {
		t.Errorf("stdout = %q; want exactly %q", got, want)
	}
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no mode", []string{"-l", "1234"}, map[string]string{"MIRRORD_AGENT_TOKEN_SHA256": tokenHash}, "missing mode"},
		{"no token", []string{"targetless"}, nil, "MIRRORD_AGENT_TOKEN_SHA256 is not set"},
		{"bad flag", []string{"--bogus", "targetless"}, map[string]string{"MIRRORD_AGENT_TOKEN_SHA256": tokenHash}, "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr, target.Finder{})
			if code != ExitUsage || !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "usage: mirrord-agent") {
				t.Errorf("exit %d, stderr %q; want %d with %q and the usage", code, stderr.String(), ExitUsage, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q; want nothing", stdout.String())
			}
		})
	}
}

func TestNoClientExitsZero(t *testing.T) {
	r := start(t, []string{"-l", freePort(t), "-t", "1", "targetless"}, map[string]string{"MIRRORD_AGENT_TOKEN_SHA256": tokenHash}, target.Finder{})
	r.waitReady(t)
	t0 := time.Now()
	if code := r.exit(t, 10*time.Second); code != ExitOK {
		t.Errorf("exit %d; want 0", code)
	}
	if took := time.Since(t0); took < 900*time.Millisecond {
		t.Errorf("exited %s after ready; want the 1 s communication timeout", took)
	}
	if !strings.Contains(r.stderr.String(), "no client connected within 1 s (agent.communication_timeout)") {
		t.Errorf("stderr lacks the no-client message:\n%s", r.stderr.String())
	}
}

func TestSignalStops(t *testing.T) {
	r := start(t, []string{"-l", freePort(t), "targetless"}, map[string]string{"MIRRORD_AGENT_TOKEN_SHA256": tokenHash}, target.Finder{})
	r.waitReady(t)
	r.cancel()
	if code := r.exit(t, 6*time.Second); code != ExitOK {
		t.Errorf("exit %d after SIGTERM; want 0", code)
	}
}

func TestListenOnlyOnLoopback(t *testing.T) {
	port := freePort(t)
	r := start(t, []string{"-l", port, "targetless"}, map[string]string{"MIRRORD_AGENT_TOKEN_SHA256": tokenHash}, target.Finder{})
	r.waitReady(t)
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range ifaddrs {
		ip := a.(*net.IPNet).IP
		if ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), time.Second); err == nil {
			c.Close()
			t.Errorf("the agent answers on %s; want 127.0.0.1 only", ip)
		}
	}
}

// criServer is a CRI runtime that reports pid for every container.
type criServer struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	pid int
}

func (s *criServer) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return &runtimeapi.ContainerStatusResponse{
		Status: &runtimeapi.ContainerStatus{Id: req.ContainerId, State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		Info:   map[string]string{"info": `{"pid": ` + strconv.Itoa(s.pid) + `}`},
	}, nil
}

// TestTargeted runs the whole agent against a process in its own network
// namespace, found through a CRI socket under a fake host root.
func TestTargeted(t *testing.T) {
	n := testns.New(t, "10.201.0.9/32")
	env := []string{"PATH=/usr/bin:/bin", "MIRRORD_FAKE_VAR_SECOND=7777"}
	p := n.Start(t, "web-abc", env)
	host := t.TempDir()
	sock := filepath.Join(host, "run/containerd/containerd.sock")
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, &criServer{pid: p.PID})
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	port := freePort(t)
	id := strings.Repeat("c0ffee", 10) + "abcd"
	r := start(t, []string{"-l", port, "-t", "10", "targeted", "--container-id", "containerd://" + id, "--container-runtime", "containerd"},
		map[string]string{"MIRRORD_AGENT_TOKEN_SHA256": tokenHash, "MIRRORD_AGENT_LOG_LEVEL": "debug"},
		target.Finder{HostRoot: host})
	r.waitReady(t)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := protocol.NewClient(ctx, conn, protocol.ClientOptions{Token: token, Name: "agentmain-test"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.Info(ctx)
	if err != nil || info.PID != p.PID || info.Mode != "targeted" || !slices.Equal(info.PodIPs, []string{"10.201.0.9"}) {
		t.Errorf("Info = %+v, %v", info, err)
	}
	vars, err := cl.Env(ctx)
	if err != nil || len(vars) != 2 || vars[1].Name != "MIRRORD_FAKE_VAR_SECOND" || vars[1].Value != "7777" {
		t.Errorf("Env = %v, %v; want %q", vars, err, env)
	}
	if !strings.Contains(r.stderr.String(), "CRI ContainerStatus at "+sock) {
		t.Errorf("the log does not say the CRI found the target:\n%s", r.stderr.String())
	}
	cl.Close()
	if code := r.exit(t, 10*time.Second); code != ExitOK {
		t.Errorf("exit %d after the client left; want 0", code)
	}
}

func TestTargetNotFound(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"MIRRORD_AGENT_TOKEN_SHA256": tokenHash}
	code := Run(context.Background(), []string{"targeted", "--container-id", strings.Repeat("9", 64)},
		func(k string) string { return env[k] }, &stdout, &stderr, target.Finder{HostRoot: t.TempDir()})
	if code != ExitError || !strings.Contains(stderr.String(), "cannot find the process of container 9999") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q; a failed agent must not print the ready line", stdout.String())
	}
}
