package layer_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/layer"
)

// TestSupervisorKilled: when mirrord dies (SIGKILL, no cleanup), the
// program does not hang: its intercepted calls fail with ENOSYS, which is
// what the kernel does once the listener is gone.
func TestSupervisorKilled(t *testing.T) {
	probe := goProbe(t)
	dir := t.TempDir()
	local := filepath.Join(dir, "f")
	if err := os.WriteFile(local, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	self, _ := os.Executable()
	cmd := exec.Command(self, probe, "openloop", local)
	cmd.Env = append(os.Environ(), helperEnv+"=exec")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// The killed runner could not unmount its remote file system.
		layer.SweepStaleMounts(quiet)
	})
	waitFor(t, outPath, "ready", 20*time.Second)
	time.Sleep(50 * time.Millisecond) // some supervised opens
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	got := waitFor(t, outPath, "open failed", 10*time.Second)
	if !strings.Contains(got, "function not implemented") {
		t.Fatalf("after the supervisor died the program got:\n%s\nwant ENOSYS (function not implemented)", got)
	}
}

func waitFor(t *testing.T, path, want string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q did not appear within %v; output so far:\n%s", want, d, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSignalStorm: SIGALRM every millisecond while opening remote files
// gives no wrong content and no error (WAIT_KILLABLE_RECV on 5.19+, and the
// injector threads' blocked signals).
func TestSignalStorm(t *testing.T) {
	python := need(t, "python3")
	w := newWorld(t)
	const script = `
import signal
hits = [0]
def on_alarm(*_):
    hits[0] += 1
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
bad = 0
for _ in range(300):
    with open("/app/test.txt") as f:
        if f.read() != "hello from the pod\n":
            bad += 1
signal.setitimer(signal.ITIMER_REAL, 0, 0)
print("bad=%d alarms>0=%s" % (bad, hits[0] > 0))
`
	w.run(t, pyFeatures(t, python), python, "-c", script).expect(t, "bad=0 alarms>0=True")
}

// TestSignalForwarding: SIGTERM sent to mirrord reaches the program, whose
// exit code mirrord then returns.
func TestSignalForwarding(t *testing.T) {
	dir := t.TempDir()
	outPath := filepath.Join(dir, "out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	self, _ := os.Executable()
	cmd := exec.Command(self, "/bin/sh", "-c", `trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done`)
	cmd.Env = append(os.Environ(), helperEnv+"=exec")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, outPath, "ready", 20*time.Second)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("mirrord did not exit after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		b, _ := os.ReadFile(outPath)
		t.Fatalf("exit code %d, want the program's 3; output:\n%s", code, b)
	}
	waitFor(t, outPath, "got-term", time.Second)
}

// TestBackgroundChild: a child the program leaves running (holding the
// output pipe) does not keep mirrord from returning.
func TestBackgroundChild(t *testing.T) {
	w := newWorld(t)
	start := time.Now()
	r := w.run(t, defaultFeatures(), "/bin/sh", "-c", "(sleep 4; cat /app/test.txt) & echo started")
	r.expect(t, "started")
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("mirrord returned after %v, want about 2 s (WaitDelay + Linger)", d)
	}
}

// TestNoMountLeft: every way a run ends removes its remote file system
// mount (tests in this package run one at a time, so any mirrord mount
// seen here is a leak).
func TestNoMountLeft(t *testing.T) {
	w := newWorld(t)
	tests := []struct {
		name    string
		argv    []string
		timeout time.Duration
	}{
		{"normal exit", []string{"/bin/sh", "-c", "cat /app/test.txt"}, 0},
		{"non-zero exit", []string{"/bin/sh", "-c", "exit 7"}, 0},
		{"killed by a signal", []string{"/bin/sh", "-c", "kill -KILL $$"}, 0},
		{"program not found", []string{"no-such-program-xyz"}, 0},
		{"cancelled while running", []string{"sleep", "30"}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.timeout > 0 {
				client := w.agent.start(t)
				ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
				defer cancel()
				var out bytes.Buffer
				_, _ = layer.Exec(ctx, layer.ExecOptions{Argv: tt.argv, Env: os.Environ(), Dir: w.tmp, Session: client,
					Features: defaultFeatures(), Stdio: layer.Stdio{Out: &out, Err: &out}})
			} else {
				// The mount exists while the program runs (/proc is local).
				argv := append([]string{"/bin/sh", "-c", `grep -c " - fuse.mirrord " /proc/self/mountinfo; exec "$0" "$@"`}, tt.argv...)
				if r := w.run(t, defaultFeatures(), argv...); !strings.HasPrefix(r.out, "1\n") && tt.argv[0] != "no-such-program-xyz" {
					t.Fatalf("during the run, want one mirrord mount; output %q", r.out)
				}
			}
			mounts, err := os.ReadFile("/proc/self/mountinfo")
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(mounts), "\n") {
				if strings.Contains(line, " - fuse.mirrord ") {
					t.Errorf("a mirrord mount is left: %s", line)
				}
			}
		})
	}
}
