//go:build e2e

package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/client"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

const remoteText = "if you can read this, the remote file system works"

// laptopDaemon runs the built mirrord's daemon inside the laptop netns, as
// on a developer's machine: its runners' relays live where the launched
// programs live.
type laptopDaemon struct {
	c     *client.Client
	notes chan note
	cmd   *exec.Cmd
}

func startLaptopDaemon(t *testing.T, e *e2eenv.Env, warmTTL string) *laptopDaemon {
	t.Helper()
	rt, err := os.MkdirTemp("", "mrd") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	sock := filepath.Join(rt, "d.sock")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := e.LaptopCommand(ctx, e2eenv.MirrordPath(t), "daemon", "serve", "--socket", sock, "--idle-timeout", "0", "--session-warm-ttl", warmTTL)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.LaptopKubeconfig, "XDG_RUNTIME_DIR="+rt, "XDG_STATE_HOME="+rt)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &laptopDaemon{notes: make(chan note, 1024), cmd: cmd}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if d.c != nil {
			_, _ = client.Call(sctx, d.c, api.DaemonStop, api.Empty{})
		}
		select {
		case <-exited:
		case <-sctx.Done():
			t.Errorf("the daemon did not stop within 30 s")
		}
		cancel()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		d.c, err = client.Dial(dctx, client.Options{Socket: sock, Name: "e2e-sessions", OnNotify: func(m string, p json.RawMessage) {
			select {
			case d.notes <- note{m, append(json.RawMessage(nil), p...), time.Now()}:
			default:
			}
		}})
		dcancel()
		if err == nil {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("connecting to the daemon on %s: %v", sock, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// launch runs a shell command in the laptop netns with a session's env
// laid over this process's env, as an IDE launches its debuggee.
func launch(t *testing.T, e *e2eenv.Env, r api.SessionsStartResult, script string) (string, int) {
	t.Helper()
	cmd := e.LaptopCommand(e2eenv.Context(t, time.Minute), "/bin/sh", "-c", script)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := r.Env[k]; !set && !contains(r.Unset, k) {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range r.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %q: %v", script, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var agentJobRe = regexp.MustCompile(`creating agent Job (\S+) in namespace`)

// drain collects the notifications that arrived so far: the agent Job a
// start's progress named, and the progress kinds seen.
func (d *laptopDaemon) drain() (job string, kinds []string, ended []api.SessionEndedParams) {
	for {
		select {
		case n := <-d.notes:
			switch n.method {
			case api.Progress.Name:
				var p api.ProgressParams
				_ = json.Unmarshal(n.params, &p)
				kinds = append(kinds, p.Value.Kind)
				if m := agentJobRe.FindStringSubmatch(p.Value.Message); m != nil {
					job = m[1]
				}
			case api.SessionEnded.Name:
				var p api.SessionEndedParams
				_ = json.Unmarshal(n.params, &p)
				ended = append(ended, p)
			}
		default:
			return job, kinds, ended
		}
	}
}

func (d *laptopDaemon) waitEnded(t *testing.T, id string, within time.Duration) api.SessionEndedParams {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case n := <-d.notes:
			if n.method != api.SessionEnded.Name {
				continue
			}
			var p api.SessionEndedParams
			_ = json.Unmarshal(n.params, &p)
			if p.SessionID == id {
				return p
			}
		case <-timeout:
			t.Fatalf("no session/ended for %s within %s", id, within)
		}
	}
}

func jobGone(t *testing.T, e *e2eenv.Env, name string, within time.Duration) {
	t.Helper()
	e.Poll(t, within, "agent Job "+name+" deleted", func(ctx context.Context) error {
		_, err := e.Client.BatchV1().Jobs(e.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return errors.New("the Job still exists")
	})
}

func sessionState(t *testing.T, d *laptopDaemon, id string) string {
	t.Helper()
	l, err := client.Call(e2eenv.Context(t, 10*time.Second), d.c, api.SessionsList, api.Empty{})
	if err != nil {
		t.Fatalf("sessions/list: %v", err)
	}
	for _, s := range l.Sessions {
		if s.SessionID == id {
			return s.State
		}
	}
	return ""
}

// TestSessions drives the session lifecycle as an IDE does: start against
// deploy/web, launch a program with the returned env (not through mirrord
// exec), stop, restart on the warm agent, and let the warm TTL clean up.
func TestSessions(t *testing.T) {
	e := e2eenv.Get(t)
	d := startLaptopDaemon(t, e, "5s")
	params := api.SessionsStartParams{Target: "deploy/web", Namespace: e.Namespace, LaunchEnv: map[string]string{"PATH": os.Getenv("PATH"), "E2E_LAUNCH": "1"}, Cwd: t.TempDir()}
	start := func(t *testing.T) (api.SessionsStartResult, time.Duration) {
		t.Helper()
		begin := time.Now()
		r, err := client.Call(e2eenv.Context(t, 3*time.Minute), d.c, api.SessionsStart, params)
		if err != nil {
			t.Fatalf("sessions/start: %v", err)
		}
		return r, time.Since(begin)
	}

	cold, coldTook := start(t)
	job, kinds, _ := d.drain()
	if cold.Reused || cold.Target != "deployment/web" || cold.Env["LD_PRELOAD"] == "" || cold.Env["MIRRORD_LAYER_SOCKET"] == "" {
		t.Fatalf("cold start: %+v", cold)
	}
	if job == "" || len(kinds) < 3 || kinds[0] != "begin" || kinds[len(kinds)-1] != "end" {
		t.Fatalf("progress: kinds %v, agent Job %q; want begin, reports naming the agent Job, end", kinds, job)
	}
	out, code := launch(t, e, cold, "cat /app/test.txt; hostname")
	if code != 0 || !strings.Contains(out, remoteText) || !strings.Contains(out, "web-") {
		t.Fatalf("launched with the session's env: exit %d, output:\n%s", code, out)
	}
	if _, err := client.Call(e2eenv.Context(t, 10*time.Second), d.c, api.SessionsStop, api.SessionsStopParams{SessionID: cold.SessionID}); err != nil {
		t.Fatalf("sessions/stop: %v", err)
	}
	if st := sessionState(t, d, cold.SessionID); st != "warm" {
		t.Fatalf("state after stop: %q, want warm", st)
	}

	warm, warmTook := start(t)
	if !warm.Reused || warm.SessionID == cold.SessionID || warm.Env["MIRRORD_LAYER_SOCKET"] != cold.Env["MIRRORD_LAYER_SOCKET"] {
		t.Fatalf("restart: %+v, want the warm runner reused under a new id", warm)
	}
	out, code = launch(t, e, warm, "cat /app/test.txt")
	if code != 0 || !strings.Contains(out, remoteText) {
		t.Fatalf("launched on the warm session: exit %d, output:\n%s", code, out)
	}
	t.Logf("sessions/start: cold %s, warm %s (agent %s reused)", coldTook.Round(time.Millisecond), warmTook.Round(time.Microsecond), job)

	if _, err := client.Call(e2eenv.Context(t, 10*time.Second), d.c, api.SessionsStop, api.SessionsStopParams{SessionID: warm.SessionID}); err != nil {
		t.Fatalf("sessions/stop: %v", err)
	}
	ended := d.waitEnded(t, warm.SessionID, 40*time.Second)
	if ended.Reason != "stopped" {
		t.Errorf("session/ended after the warm TTL: %+v, want reason stopped", ended)
	}
	jobGone(t, e, job, 30*time.Second)
	if _, err := client.Call(e2eenv.Context(t, 10*time.Second), d.c, api.SessionsStop, api.SessionsStopParams{SessionID: warm.SessionID}); err == nil ||
		!strings.Contains(err.Error(), "no session") {
		t.Errorf("stopping an ended session: %v, want an error naming it", err)
	}
}

// TestSessionRunnerKilled: a runner that dies is reported with a reason
// and the daemon stays up.
func TestSessionRunnerKilled(t *testing.T) {
	e := e2eenv.Get(t)
	d := startLaptopDaemon(t, e, "-1s")
	r, err := client.Call(e2eenv.Context(t, 3*time.Minute), d.c, api.SessionsStart,
		api.SessionsStartParams{Target: "deploy/web", Namespace: e.Namespace, LaunchEnv: map[string]string{"PATH": os.Getenv("PATH")}})
	if err != nil {
		t.Fatalf("sessions/start: %v", err)
	}
	job, _, _ := d.drain()
	t.Cleanup(func() {
		// A killed runner cannot delete its agent (it exits by itself when
		// its client is gone); remove it so the namespace stays tidy.
		_ = e.Client.BatchV1().Jobs(e.Namespace).Delete(context.Background(), job,
			metav1.DeleteOptions{PropagationPolicy: ptrTo(metav1.DeletePropagationBackground)})
	})
	l, err := client.Call(e2eenv.Context(t, 10*time.Second), d.c, api.SessionsList, api.Empty{})
	if err != nil || len(l.Sessions) != 1 || l.Sessions[0].State != "running" {
		t.Fatalf("sessions/list: %+v, %v", l, err)
	}
	if err := syscall.Kill(l.Sessions[0].Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ended := d.waitEnded(t, r.SessionID, 10*time.Second)
	if ended.Reason == "" || ended.Reason == "stopped" || ended.ExitCode == 0 {
		t.Errorf("session/ended after SIGKILL: %+v, want a reason and a non-zero code", ended)
	}
	t.Logf("session/ended: %+v", ended)
	st, err := client.Call(e2eenv.Context(t, 10*time.Second), d.c, api.DaemonStatus, api.Empty{})
	if err != nil || st.Sessions != 0 {
		t.Fatalf("daemon/status after the runner died: %+v, %v", st, err)
	}
}

func ptrTo[T any](v T) *T { return &v }
