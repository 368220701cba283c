//go:build linux

package target

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/mirrord-go/mirrord/agent/internal/config"
)

const (
	webID   = "3f1c2a9be0d4c5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4"
	otherID = "0000000000000000000000000000000000000000000000000000000000000001"
)

// fakeProc writes a /proc-like tree: pid → (ppid, start, cgroup).
type procEntry struct {
	ppid, start int
	cgroup      string
}

func fakeProc(t *testing.T, procs map[int]procEntry) string {
	dir := t.TempDir()
	for pid, p := range procs {
		d := filepath.Join(dir, fmt.Sprint(pid))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		// Field 2 with spaces and a ')' to exercise the parser.
		stat := fmt.Sprintf("%d (odd) name) S %d %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n", pid, p.ppid, pid, pid, p.start)
		if err := os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup"), []byte(p.cgroup), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Not a process directory: ignored.
	_ = os.WriteFile(filepath.Join(dir, "uptime"), []byte("1 1\n"), 0o644)
	return dir
}

func cg(id string) string {
	return "12:pids:/kubepods/besteffort/podabc/" + id + "\n11:memory:/kubepods/besteffort/podabc/" + id + "\n"
}

var node = map[int]procEntry{
	1:   {0, 1, "1:name=systemd:/init.scope\n"},
	300: {1, 500, cg(otherID)},
	400: {1, 700, cg(webID)},     // the web container's init
	401: {400, 900, cg(webID)},   // a child of it
	402: {1, 650, cg("pause-x")}, // the sandbox
	999: {1, 800, cg(webID)},     // the agent itself, pretend
}

func TestScanCgroups(t *testing.T) {
	f := &Finder{Proc: fakeProc(t, node), Self: 999, HostRoot: t.TempDir()}
	tgt, err := f.Find(context.Background(), config.Config{Mode: config.Targeted, ContainerID: webID})
	if err != nil {
		t.Fatal(err)
	}
	if tgt.PID != 400 || !strings.Contains(tgt.Method, "cgroup scan") {
		t.Errorf("Find = %+v; want pid 400 by cgroup scan", tgt)
	}
	_, err = f.Find(context.Background(), config.Config{Mode: config.Targeted, ContainerID: strings.Repeat("ab", 32)})
	for _, want := range []string{"cannot find the process of container abab", "no CRI socket found", "no process in", "hostPID"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Find(unknown id) = %v; want an error with %q", err, want)
		}
	}
}

func TestEphemeral(t *testing.T) {
	tests := []struct {
		name  string
		procs map[int]procEntry
		self  int
		id    string
		want  int
	}{
		// The ephemeral container sees the target's processes and its own.
		{"pid 1 is the target", map[int]procEntry{1: {0, 100, ""}, 7: {1, 200, ""}, 50: {0, 900, ""}, 51: {50, 950, ""}}, 50, "", 1},
		// A shared PID namespace: pid 1 is pause, the id picks the target.
		{"shared pid namespace", map[int]procEntry{1: {0, 100, cg("pause")}, 8: {0, 200, cg(webID)}, 50: {0, 900, ""}}, 50, webID, 8},
		{"id not found falls back to the oldest", map[int]procEntry{1: {0, 100, ""}, 50: {0, 900, ""}}, 50, webID, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Finder{Proc: fakeProc(t, tt.procs), Self: tt.self}
			tgt, err := f.Find(context.Background(), config.Config{Mode: config.Ephemeral, ContainerID: tt.id})
			if err != nil || tgt.PID != tt.want {
				t.Fatalf("Find = %+v, %v; want pid %d", tgt, err, tt.want)
			}
		})
	}
	f := &Finder{Proc: fakeProc(t, map[int]procEntry{50: {0, 900, ""}}), Self: 50}
	if _, err := f.Find(context.Background(), config.Config{Mode: config.Ephemeral}); err == nil || !strings.Contains(err.Error(), "targetContainerName") {
		t.Errorf("Find alone = %v; want an error about targetContainerName", err)
	}
}

func TestTargetless(t *testing.T) {
	tgt, err := (&Finder{}).Find(context.Background(), config.Config{Mode: config.Targetless})
	if err != nil || tgt.PID != 0 {
		t.Fatalf("Find = %+v, %v", tgt, err)
	}
}

// fakeCRI is a CRI runtime service on a unix socket that knows containers
// by id; info is the verbose info it returns for each.
type fakeCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	info  map[string]map[string]string
	state runtimeapi.ContainerState
}

func (f *fakeCRI) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	info, ok := f.info[req.ContainerId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "container %q not found", req.ContainerId)
	}
	if !req.Verbose {
		info = nil
	}
	return &runtimeapi.ContainerStatusResponse{
		Status: &runtimeapi.ContainerStatus{Id: req.ContainerId, State: f.state},
		Info:   info,
	}, nil
}

func serveCRI(t *testing.T, sock string, srv *fakeCRI) {
	if err := os.MkdirAll(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(s, srv)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
}

func TestCRI(t *testing.T) {
	host := t.TempDir()
	running := runtimeapi.ContainerState_CONTAINER_RUNNING
	// k3s's containerd knows only otherID; the CRI-O socket knows webID.
	serveCRI(t, filepath.Join(host, "run/k3s/containerd/containerd.sock"), &fakeCRI{state: running,
		info: map[string]map[string]string{otherID: {"info": `{"pid": 300, "sandboxID": "x"}`}}})
	serveCRI(t, filepath.Join(host, "run/crio/crio.sock"), &fakeCRI{state: running,
		info: map[string]map[string]string{webID: {"pid": "400"}}})
	// A stale socket file that nothing serves.
	stale := filepath.Join(host, "run/containerd/containerd.sock")
	if ln, err := net.Listen("unix", stale); err == nil {
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close()
	}
	proc := fakeProc(t, node)
	tests := []struct {
		name, id, runtime string
		want              int
		method            string
	}{
		{"containerd info json", otherID, config.RuntimeContainerd, 300, "k3s/containerd"},
		{"cri-o pid entry", webID, config.RuntimeCRIO, 400, "crio.sock"},
		{"cri-o found without the runtime hint", webID, "", 400, "crio.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Finder{HostRoot: host, Proc: proc, Self: 999}
			tgt, err := f.Find(context.Background(), config.Config{Mode: config.Targeted, ContainerID: tt.id, Runtime: tt.runtime})
			if err != nil {
				t.Fatal(err)
			}
			if tgt.PID != tt.want || !strings.Contains(tgt.Method, "CRI") || !strings.Contains(tgt.Method, tt.method) {
				t.Errorf("Find = %+v; want pid %d through %s", tgt, tt.want, tt.method)
			}
		})
	}
	t.Run("stopped container falls back to the cgroup scan", func(t *testing.T) {
		h := t.TempDir()
		serveCRI(t, filepath.Join(h, "run/containerd/containerd.sock"), &fakeCRI{state: runtimeapi.ContainerState_CONTAINER_EXITED,
			info: map[string]map[string]string{webID: {"info": `{"pid": 12345}`}}})
		f := &Finder{HostRoot: h, Proc: proc, Self: 999}
		tgt, err := f.Find(context.Background(), config.Config{Mode: config.Targeted, ContainerID: webID})
		if err != nil || tgt.PID != 400 || !strings.Contains(tgt.Method, "cgroup") {
			t.Fatalf("Find = %+v, %v; want pid 400 by cgroup scan", tgt, err)
		}
	})
}

func TestPIDFromInfo(t *testing.T) {
	tests := []struct {
		info map[string]string
		want int
		err  string
	}{
		{map[string]string{"info": `{"pid":42}`}, 42, ""},
		{map[string]string{"pid": "43", "info": `{"pid":42}`}, 43, ""},
		{map[string]string{"pid": "junk", "info": `{"pid":42}`}, 42, ""},
		{map[string]string{}, 0, `no "info" entry`},
		{map[string]string{"info": `{"sandboxID":"x"}`}, 0, "no pid"},
		{map[string]string{"info": `not json`}, 0, "decoding"},
	}
	for _, tt := range tests {
		got, err := pidFromInfo(tt.info)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("pidFromInfo(%v) = %d, %v; want error %q", tt.info, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("pidFromInfo(%v) = %d, %v; want %d", tt.info, got, err, tt.want)
		}
	}
}
