package daemon_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/mirrord-go/mirrord/daemon"
	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/client"
)

// Two IDE windows share one daemon: the second dial finds the first's
// daemon, both see each other in status, and each gets its own answers.
func TestTwoClientsShareOneDaemon(t *testing.T) {
	a := procFixture(t)
	b := &fixture{notes: make(chan note, 16)}
	opts := a.opts
	opts.OnNotify = b.onNotify
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	b.c, b.pid = c, c.Info.Pid
	if b.pid != a.pid {
		t.Fatalf("second client reached pid %d, first %d: two daemons", b.pid, a.pid)
	}
	if st := call(t, a, api.DaemonStatus, api.Empty{}); st.Clients != 1 {
		t.Errorf("status from a: %d other clients, want 1", st.Clients)
	}
	ra := call(t, a, api.TargetsList, api.TargetsListParams{Namespace: "other"})
	rb := call(t, b, api.TargetsList, api.TargetsListParams{})
	if len(ra.Targets) != 1 || len(rb.Targets) != 5 {
		t.Errorf("a listed %v, b listed %v", paths(ra.Targets), paths(rb.Targets))
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for call(t, a, api.DaemonStatus, api.Empty{}).Clients != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the daemon still counts the closed client")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Concurrent first dials start exactly one daemon (the start lock).
func TestConcurrentAutoStart(t *testing.T) {
	t.Setenv(serveEnv, "1")
	exe, _ := os.Executable()
	sock := filepath.Join(t.TempDir(), "d.sock")
	opts := client.Options{Socket: sock, AutoStart: true, Exe: exe}
	pids := make(chan int, 4)
	for range 4 {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			c, err := client.Dial(ctx, opts)
			if err != nil {
				t.Error(err)
				pids <- 0
				return
			}
			pids <- c.Info.Pid
			c.Close()
		}()
	}
	first := <-pids
	for range 3 {
		if p := <-pids; p != first {
			t.Errorf("clients reached pids %d and %d", first, p)
		}
	}
	stopDaemon(t, &fixture{opts: opts, pid: first})
}

// A daemon killed with SIGKILL leaves its socket behind; the next client
// removes it and starts a new daemon.
func TestStaleSocketRecovered(t *testing.T) {
	f := procFixture(t)
	old := f.pid
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitGone(t, old, 5*time.Second)
	if _, err := os.Stat(f.opts.Socket); err != nil {
		t.Fatalf("the killed daemon's socket should still be there: %v", err)
	}
	// The leader turns zombie before its other threads drop the
	// listener, so wait until the socket stops answering.
	for deadline := time.Now().Add(5 * time.Second); ; {
		nc, err := net.Dial("unix", f.opts.Socket)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("the killed daemon's socket still answers")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, f.opts)
	if err != nil {
		t.Fatalf("dial after SIGKILL: %v", err)
	}
	defer c.Close()
	if c.Info.Pid == old {
		t.Fatal("reached the killed daemon")
	}
	f.pid = c.Info.Pid // the cleanup stops the new one
	if r := call(t, &fixture{c: c}, api.TargetsList, api.TargetsListParams{}); len(r.Targets) != 5 {
		t.Errorf("new daemon lists %v", paths(r.Targets))
	}
}

// With no client and no session, the daemon exits after its idle timeout
// and removes its socket; a connected client keeps it alive.
func TestIdleExit(t *testing.T) {
	f := procFixture(t, "--idle-timeout", "700ms")
	time.Sleep(1200 * time.Millisecond)
	if st := call(t, f, api.DaemonStatus, api.Empty{}); st.Pid != f.pid || st.IdleTimeoutSeconds != 0.7 {
		t.Fatalf("a connected client should keep the daemon up: %+v", st)
	}
	start := time.Now()
	f.c.Close()
	waitGone(t, f.pid, 5*time.Second)
	took := time.Since(start)
	if took < 600*time.Millisecond {
		t.Errorf("exited %s after the last client left, before the 700ms idle timeout", took)
	}
	if _, err := os.Stat(f.opts.Socket); !os.IsNotExist(err) {
		t.Errorf("socket left after idle exit: %v", err)
	}
	t.Logf("idle exit %s after the last client left (timeout 700ms)", took.Round(time.Millisecond))
}

// A peer of another uid is refused even when it can reach the socket
// (here a world-writable one); the default socket directory is private
// anyway.
func TestOtherUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test switches to uid 65534 with setpriv and must run as root (the harness does)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) is needed: %v", err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "open.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o777); err != nil {
		t.Fatal(err)
	}
	s := daemon.New(testOptions(nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	// The test binary must be executable by nobody.
	exe, _ := os.Executable()
	bin := filepath.Join(dir, "client.test")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env = append(os.Environ(), clientEnv+"="+sock)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	out, err := run(setpriv, "--reuid", "65534", "--regid", "65534", "--clear-groups", bin, "-test.v", "-test.run", "^TestTinyClient$")
	if err != nil || !strings.Contains(out, "REFUSED") {
		t.Errorf("uid 65534: %v\n%s", err, out)
	}
	out, err = run(bin, "-test.v", "-test.run", "^TestTinyClient$")
	if err != nil || !strings.Contains(out, "ANSWERED") {
		t.Errorf("own uid: %v\n%s", err, out)
	}
}

// clientEnv makes TestTinyClient dial a socket and report whether the
// daemon answered; TestOtherUIDRefused runs it under other uids.
const clientEnv = "MIRRORD_DAEMON_TEST_TINY_CLIENT"

func TestTinyClient(t *testing.T) {
	sock := os.Getenv(clientEnv)
	if sock == "" {
		t.Log("only run by TestOtherUIDRefused")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Socket: sock})
	if err != nil {
		t.Logf("REFUSED uid %d: %v", os.Getuid(), err)
		return
	}
	defer c.Close()
	t.Logf("ANSWERED uid %d pid %d", os.Getuid(), c.Info.Pid)
}

// A change in a listed namespace reaches the client that listed it.
func TestTargetsChangedNotification(t *testing.T) {
	cs := fake.NewClientset(fakeObjects()...)
	f := pipeFixture(t, testOptions(cs))
	other := pipeFixture(t, testOptions(cs))
	call(t, f, api.TargetsList, api.TargetsListParams{})
	call(t, other, api.TargetsList, api.TargetsListParams{Namespace: "other"})
	ctx := context.Background()
	start := time.Now()
	if _, err := cs.CoreV1().Pods("apps").Create(ctx, readyPod("apps", "web-2", nil, "web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	raw := f.waitNote(t, api.TargetsChanged.Name, 2*time.Second, nil)
	var ch api.TargetsChangedParams
	if err := json.Unmarshal(raw, &ch); err != nil || ch.Namespace != "apps" || ch.KubeContext != "fake" {
		t.Errorf("notice %s: %v", raw, err)
	}
	t.Logf("targets/changed %s after the create", time.Since(start).Round(time.Millisecond))
	r := call(t, f, api.TargetsList, api.TargetsListParams{})
	equal(t, "after create", paths(r.Targets), []string{"pod/multi/container/a", "pod/multi/container/b", "pod/sidecar", "pod/web-1", "pod/web-2", "deployment/web"})
	// A status update that changes no path or availability is not news.
	p, _ := cs.CoreV1().Pods("apps").Get(ctx, "web-2", metav1.GetOptions{})
	p.Status.PodIP = "10.0.0.9"
	if _, err := cs.CoreV1().Pods("apps").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case n := <-f.notes:
		t.Errorf("unexpected notice %s %s", n.method, n.params)
	default:
	}
	select {
	case n := <-other.notes:
		t.Errorf("the client that listed another namespace got %s %s", n.method, n.params)
	default:
	}
}
