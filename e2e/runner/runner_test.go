//go:build e2e

// Package runner_test proves launch model (b) on the local cluster: `mirrord
// runner` starts a session against deploy/web and prints an environment;
// programs started with that environment (not through mirrord exec), in the
// laptop netns as on a developer's machine, run in the pod's context with
// their whole process tree, and the runner cleans up on every way it ends.
package runner_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

const remoteText = "if you can read this, the remote file system works"

var (
	prepOnce sync.Once
	prepErr  error
	goProbe  string
	root     string
)

// prepare builds the bootstrap (e2eenv builds mirrord with go build, which
// embeds whatever layer/bootstrap/dist holds) and a static Go probe.
func prepare(t *testing.T) (*e2eenv.Env, string) {
	t.Helper()
	e := e2eenv.Get(t)
	prepOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root = filepath.Join(filepath.Dir(file), "..", "..")
		if out, err := exec.Command("make", "-C", root, "bootstrap").CombinedOutput(); err != nil {
			prepErr = fmt.Errorf("make bootstrap: %v\n%s", err, out)
			return
		}
		dir, err := os.MkdirTemp("", "mirrord-e2e-runner-")
		if err != nil {
			prepErr = err
			return
		}
		goProbe = filepath.Join(dir, "goprobe")
		cmd := exec.Command("go", "build", "-o", goProbe, "./layer/testdata/goprobe")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			prepErr = fmt.Errorf("building the static Go probe: %v\n%s", err, out)
		}
	})
	if prepErr != nil {
		t.Fatal(prepErr)
	}
	return e, e2eenv.MirrordPath(t)
}

type runnerResult struct {
	Env      map[string]string `json:"env"`
	Unset    []string          `json:"unset"`
	Target   string            `json:"target"`
	Warnings []string          `json:"warnings"`
}

// runner is a `mirrord runner` process in the laptop netns.
type runner struct {
	cmd    *exec.Cmd
	res    runnerResult
	agent  string // the agent Job's name
	start  time.Duration
	stderr *e2eenv.SyncBuffer
	exited chan struct{}
	err    error
}

var agentJob = regexp.MustCompile(`creating agent Job (\S+) in namespace`)

func startRunner(t *testing.T, args ...string) *runner {
	t.Helper()
	e, bin := prepare(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	// A short private runtime dir: t.TempDir's names do not fit a unix
	// socket path.
	rt, err := os.MkdirTemp("", "mrd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	cmd := e.LaptopCommand(ctx, bin, append([]string{"runner", "-t", "deploy/web", "-n", e.Namespace}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.LaptopKubeconfig, "XDG_RUNTIME_DIR="+rt,
		"MIRRORD_PROGRESS_MODE=json", "MIRRORD_LOG_LEVEL=debug")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{cmd: cmd, stderr: &e2eenv.SyncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = r.stderr
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewReader(stdout)
	line, err := lines.ReadBytes('\n')
	r.start = time.Since(begin)
	go func() {
		_, _ = lines.WriteTo(os.Stdout) // nothing more is expected
		r.err = cmd.Wait()
		cancel()
		close(r.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-r.exited
		}
		if r.agent != "" {
			// Only a killed runner leaves its agent; remove what we made.
			_ = e.Client.BatchV1().Jobs(e.Namespace).Delete(context.Background(), r.agent,
				metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)})
		}
	})
	if m := agentJob.FindStringSubmatch(r.stderr.String()); m != nil {
		r.agent = m[1]
	}
	if err != nil {
		<-r.exited
		t.Fatalf("the runner printed no env line (%v); exit %v, stderr:\n%s", err, r.err, r.stderr)
	}
	if err := json.Unmarshal(line, &r.res); err != nil {
		t.Fatalf("the runner's line is not its JSON result: %v\n%s", err, line)
	}
	if r.agent == "" {
		t.Fatalf("no agent Job named in the progress:\n%s", r.stderr)
	}
	t.Logf("runner: env printed after %s (agent %s)", r.start.Round(time.Millisecond), r.agent)
	return r
}

func ptr[T any](v T) *T { return &v }

// launch runs a shell command in the laptop netns with the runner's env,
// as an IDE launches a debuggee.
func (r *runner) launch(t *testing.T, script string) (string, int) {
	t.Helper()
	e := e2eenv.Get(t)
	ctx := e2eenv.Context(t, time.Minute)
	cmd := e.LaptopCommand(ctx, "/bin/sh", "-c", script)
	cmd.Env = r.env()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %q: %v", script, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func (r *runner) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := r.res.Env[k]; !set && !contains(r.res.Unset, k) {
			env = append(env, kv)
		}
	}
	for k, v := range r.res.Env {
		env = append(env, k+"="+v)
	}
	return append(env, "GOPROBE="+goProbe)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (r *runner) joins() int { return strings.Count(r.stderr.String(), "process joined") }

func (r *runner) waitExit(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-r.exited:
	case <-time.After(within):
		t.Fatalf("the runner still runs after %s; stderr:\n%s", within, r.stderr)
	}
}

func agentGone(t *testing.T, name string) {
	t.Helper()
	e := e2eenv.Get(t)
	e.Poll(t, 30*time.Second, "agent Job "+name+" deleted", func(ctx context.Context) error {
		_, err := e.Client.BatchV1().Jobs(e.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("job %s still exists", name)
	})
}

func TestRunnerEnv(t *testing.T) {
	r := startRunner(t)
	if r.res.Target != "deployment/web" || r.res.Env["MIRRORD_FAKE_VAR_FIRST"] == "" ||
		!strings.Contains(r.res.Env["LD_PRELOAD"], "mirrord-bootstrap-") || r.res.Env["MIRRORD_LAYER_SOCKET"] == "" {
		t.Fatalf("runner result %+v", r.res)
	}
	tests := []struct {
		name, script string
		want         []string
		joins        int
	}{
		{"(a) a launched program reads the pod's file, env, hostname and network",
			`cat /app/test.txt; echo "var=$MIRRORD_FAKE_VAR_FIRST"; hostname; curl -s -m 10 http://internal-only.mirrord-e2e.svc/`,
			[]string{remoteText, "var=mirrord.is.running", "web-", "GET from pod internal-only"}, 1},
		{"(b) a static Go child of a dynamic parent is supervised",
			`"$GOPROBE" read /app/test.txt && "$GOPROBE" hostname && "$GOPROBE" resolve internal-only`,
			[]string{remoteText, "web-", "10.96."}, 1},
		{"(c) a second bootstrap in the tree does nothing",
			`/bin/sh -c '/bin/sh -c "cat /app/test.txt"' && python3 -c 'print(open("/app/test.txt").read())'`,
			[]string{remoteText}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := r.joins()
			out, code := r.launch(t, tt.script)
			for _, w := range tt.want {
				if code != 0 || !strings.Contains(out, w) {
					t.Fatalf("exit %d, output:\n%s\nwant %q", code, out, w)
				}
			}
			e2eenv.Get(t).Poll(t, 5*time.Second, "join logged", func(context.Context) error {
				if got := r.joins() - before; got != tt.joins {
					return fmt.Errorf("%d processes joined, want %d", got, tt.joins)
				}
				return nil
			})
		})
	}
}

func TestRunnerSkipProcesses(t *testing.T) {
	r := startRunner(t, "--skip-processes", "cat")
	out, _ := r.launch(t, `cat /app/test.txt; "$GOPROBE" read /app/test.txt`)
	if !strings.Contains(out, "cat: /app/test.txt: No such file or directory") || !strings.Contains(out, remoteText) {
		t.Fatalf("output:\n%s\nwant cat (skipped) to read the laptop's disk and the Go probe the pod's", out)
	}
}

func TestRunnerLifetime(t *testing.T) {
	t.Run("(e) last process exited", func(t *testing.T) {
		r := startRunner(t, "--grace", "1s")
		if out, code := r.launch(t, "cat /app/test.txt"); code != 0 {
			t.Fatalf("exit %d: %s", code, out)
		}
		r.waitExit(t, 20*time.Second)
		if r.err != nil {
			t.Fatalf("runner: %v\n%s", r.err, r.stderr)
		}
		agentGone(t, r.agent)
	})
	t.Run("(e) no process joined", func(t *testing.T) {
		r := startRunner(t, "--start-timeout", "2s")
		r.waitExit(t, 30*time.Second)
		errLine := ""
		for _, l := range strings.Split(r.stderr.String(), "\n") {
			if strings.HasPrefix(l, "Error: ") {
				errLine = l
			}
		}
		var msg struct{ Message string }
		if r.err == nil || json.Unmarshal([]byte(strings.TrimPrefix(errLine, "Error: ")), &msg) != nil ||
			!strings.Contains(msg.Message, "no process joined") || !strings.Contains(msg.Message, "--start-timeout") {
			t.Fatalf("exit %v, stderr:\n%s\nwant a non-zero exit and Error: {json} naming --start-timeout", r.err, r.stderr)
		}
		agentGone(t, r.agent)
	})
	t.Run("(e) SIGTERM", func(t *testing.T) {
		r := startRunner(t)
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		r.waitExit(t, 20*time.Second)
		if r.err != nil {
			t.Fatalf("runner after SIGTERM: %v\n%s", r.err, r.stderr)
		}
		agentGone(t, r.agent)
		if _, err := os.Stat(r.res.Env["MIRRORD_LAYER_SOCKET"]); !os.IsNotExist(err) {
			t.Errorf("session socket left behind: %v", err)
		}
	})
	t.Run("(f) killing the runner: a clear error, no hang", func(t *testing.T) {
		r := startRunner(t)
		done := make(chan struct{})
		var out string
		start := time.Now()
		go func() {
			defer close(done)
			out, _ = r.launch(t, `sleep 3; cat /app/test.txt; echo "cat exit $?"`)
		}()
		time.Sleep(time.Second)
		_ = r.cmd.Process.Kill()
		<-done
		// The supervisor is gone: the calls mirrord intercepts (the exec of
		// cat, or its open) fail with ENOSYS instead of hanging.
		if !strings.Contains(out, "Function not implemented") || strings.Contains(out, "cat exit 0") || time.Since(start) > 20*time.Second {
			t.Fatalf("after %s, output:\n%s\nwant ENOSYS at once", time.Since(start), out)
		}
		// A program started after that is refused in one clear line.
		out, code := r.launch(t, "true")
		if code != 111 || !strings.Contains(out, "cannot reach the mirrord session") {
			t.Fatalf("exit %d, output %q", code, out)
		}
	})
}

// TestRunnerRemoteFS: programs that join a runner get the same remote
// file system as under mirrord exec (the runner's FUSE mount, whatever
// mount namespace they live in): directory listings of the pod and, in
// write mode, writes that land in the pod.
func TestRunnerRemoteFS(t *testing.T) {
	e := e2eenv.Get(t)
	r := startRunner(t, "--fs-mode", "write")
	name := fmt.Sprintf("/app/runner-write-%d", time.Now().UnixNano())
	out, code := r.launch(t, `ls /app && echo from-runner > `+name+` && cat `+name)
	if code != 0 || !strings.Contains(out, "sampleapp") || !strings.Contains(out, "test.txt") || !strings.Contains(out, "from-runner") {
		t.Fatalf("exit %d, output:\n%s\nwant the pod's /app listed and the write read back", code, out)
	}
	pod := e.ReadyPod(t, "web")
	got, _, err := e.Exec(e2eenv.Context(t, 30*time.Second), e.Namespace, pod.Name, "", nil, "cat", name)
	if err != nil || strings.TrimSpace(got) != "from-runner" {
		t.Fatalf("in the pod, %s holds %q (%v)", name, got, err)
	}
	_, _, _ = e.Exec(e2eenv.Context(t, 30*time.Second), e.Namespace, pod.Name, "", nil, "rm", "-f", name)
}
