//go:build e2e

// Package exec_test proves `mirrord exec` and `mirrord port-forward` against
// the local cluster, run from the laptop netns as a developer would: the
// target's environment reaches the program, every target kind and agent
// mode starts a session, and nothing is left behind.
package exec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// result is one finished mirrord run.
type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, e *e2eenv.Env, env []string, args ...string) result {
	t.Helper()
	ctx := e2eenv.Context(t, 2*time.Minute)
	cmd := e.Mirrord(t, ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("running mirrord %v: %v", args, err)
	}
	return r
}

// envOf parses `env` output into a map.
func envOf(s string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

func TestExecEnv(t *testing.T) {
	e := e2eenv.Get(t)
	r := run(t, e, nil, "exec", "-t", "deploy/web", "-n", e.Namespace, "--", "sh", "-c", "env")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	got := envOf(r.stdout)
	for k, v := range map[string]string{sample.EnvFirst: sample.EnvFirstValue, sample.EnvSecond: sample.EnvSecondValue, sample.EnvThird: sample.EnvThirdValue} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if got["PATH"] != os.Getenv("PATH") {
		t.Errorf("PATH = %q, want the local %q", got["PATH"], os.Getenv("PATH"))
	}
	if got["HOME"] != os.Getenv("HOME") {
		t.Errorf("HOME = %q, want the local %q", got["HOME"], os.Getenv("HOME"))
	}
	// The pod's Kubernetes service variables arrive too: they come from the target.
	if got["WEB_SERVICE_HOST"] == "" {
		t.Errorf("WEB_SERVICE_HOST missing: the target's service env did not arrive")
	}
}

func TestExecEnvRules(t *testing.T) {
	e := e2eenv.Get(t)
	dir := t.TempDir()
	writeConfig := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	envFile := writeConfig("local.env", "MIRRORD_FAKE_VAR_SECOND=from-file\nFROM_FILE=yes\n")
	tests := []struct {
		name string
		args []string
		env  []string
		want map[string]string // "" means absent
	}{
		{"include by flag", []string{"-s", "MIRRORD_FAKE_VAR_FIRST"}, nil,
			map[string]string{sample.EnvFirst: sample.EnvFirstValue, sample.EnvSecond: "", "WEB_SERVICE_HOST": ""}},
		{"exclude by flag", []string{"-x", "MIRRORD_FAKE_VAR_FIRST;*_SERVICE_*"}, nil,
			map[string]string{sample.EnvFirst: "", sample.EnvSecond: sample.EnvSecondValue, "WEB_SERVICE_HOST": ""}},
		{"include by config", []string{"-f", writeConfig("inc.json", `{"feature":{"env":{"include":"MIRRORD_FAKE_VAR_S*"}}}`)}, nil,
			map[string]string{sample.EnvFirst: "", sample.EnvSecond: sample.EnvSecondValue}},
		{"exclude by config (YAML)", []string{"-f", writeConfig("exc.yaml", "feature:\n  env:\n    exclude: [MIRRORD_FAKE_VAR_SECOND]\n")}, nil,
			map[string]string{sample.EnvFirst: sample.EnvFirstValue, sample.EnvSecond: ""}},
		{"override", []string{"-f", writeConfig("ovr.toml", "[feature.env.override]\nMIRRORD_FAKE_VAR_FIRST = \"local-value\"\n")}, nil,
			map[string]string{sample.EnvFirst: "local-value", sample.EnvSecond: sample.EnvSecondValue}},
		{"mapping with a capture group", []string{"-f", writeConfig("map.json", `{"feature":{"env":{"mapping":{"^MIRRORD_FAKE_VAR_(F.*)$":"mapped-$1"}}}}`)}, nil,
			map[string]string{sample.EnvFirst: "mapped-FIRST", sample.EnvSecond: sample.EnvSecondValue}},
		{"unset is case-insensitive", []string{"-f", writeConfig("unset.json", `{"feature":{"env":{"unset":["mirrord_fake_var_first","LOCAL_ONLY"]}}}`)},
			[]string{"LOCAL_ONLY=1"}, map[string]string{sample.EnvFirst: "", "LOCAL_ONLY": "", sample.EnvSecond: sample.EnvSecondValue}},
		{"env_file by flag", []string{"--env-file", envFile}, nil,
			map[string]string{sample.EnvSecond: "from-file", "FROM_FILE": "yes", sample.EnvFirst: sample.EnvFirstValue}},
		{"include by env var", nil, []string{"MIRRORD_OVERRIDE_ENV_VARS_INCLUDE=MIRRORD_FAKE_VAR_THIRD"},
			map[string]string{sample.EnvThird: sample.EnvThirdValue, sample.EnvFirst: ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"exec", "-t", "deploy/web", "-n", e.Namespace}, tt.args...)
			r := run(t, e, tt.env, append(args, "--", "env")...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
			}
			got := envOf(r.stdout)
			for k, v := range tt.want {
				gv, ok := got[k]
				if v == "" && ok {
					t.Errorf("%s should be absent, is %q", k, gv)
				}
				if v != "" && gv != v {
					t.Errorf("%s = %q, want %q", k, gv, v)
				}
			}
		})
	}
}

func TestExecTargetKinds(t *testing.T) {
	e := e2eenv.Get(t)
	web := e2eenv.Get(t).ReadyPod(t, "web")
	tests := []struct {
		target  string
		wantEnv bool // the web container's env arrives
	}{
		{"pod/" + web.Name, true},
		{"deploy/web", true},
		{"deployment/web/container/web", true},
		{"statefulset/web-sts", true},
		{"job/web-job", true},
		{"service/web", true},
		{"pod/sidecar-pod", true},                        // istio-proxy is skipped
		{"pod/sidecar-pod/container/istio-proxy", false}, // asked for explicitly
		{"targetless", false},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.target, "/", "_"), func(t *testing.T) {
			r := run(t, e, nil, "exec", "-t", tt.target, "-n", e.Namespace, "--", "env")
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
			}
			got := envOf(r.stdout)[sample.EnvFirst]
			if tt.wantEnv && got != sample.EnvFirstValue {
				t.Errorf("%s = %q, want the web container's %q", sample.EnvFirst, got, sample.EnvFirstValue)
			}
			if !tt.wantEnv && got != "" {
				t.Errorf("%s = %q, want none (not the web container)", sample.EnvFirst, got)
			}
		})
	}
}

func TestExecMissingTarget(t *testing.T) {
	e := e2eenv.Get(t)
	tests := []struct{ target, want string }{
		{"deploy/nope", "nope"},
		{"pod/nope", "nope"},
		{"deploy/web/container/nope", "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			r := run(t, e, nil, "exec", "-t", tt.target, "-n", e.Namespace, "--", "true")
			if r.code == 0 {
				t.Fatal("a missing target exited 0")
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) || !strings.Contains(lines[0], e.Namespace) {
				t.Errorf("want one actionable line naming %q and the namespace, got:\n%s", tt.want, r.stderr)
			}
		})
	}
}

func TestExecExitCodeAndCleanup(t *testing.T) {
	e := e2eenv.Get(t)
	r := run(t, e, []string{"MIRRORD_PROGRESS_MODE=json"}, "exec", "-t", "deploy/web", "-n", e.Namespace, "--", "sh", "-c", "exit 7")
	if r.code != 7 {
		t.Fatalf("exit %d, want the program's 7\nstderr: %s", r.code, r.stderr)
	}
	job := agentName(t, r.stdout)
	e.Poll(t, 20*time.Second, "agent Job "+job+" removed after a normal exit", func(ctx context.Context) error {
		return gone(ctx, e, job)
	})
}

func TestExecEphemeral(t *testing.T) {
	e := e2eenv.Get(t)
	// A pod of its own: ephemeral containers can never be removed from a pod.
	ns := e.TempNamespace(t, "ephemeral")
	web := e.ReadyPod(t, "web")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "eph-target", Namespace: ns, Labels: map[string]string{"app": "eph-target"}},
		Spec:       *web.Spec.DeepCopy(),
	}
	pod.Spec.NodeName = ""
	pod.Spec.EphemeralContainers = nil
	pod.Spec.Containers[0].EnvFrom = nil
	e.CreatePod(t, pod)
	r := run(t, e, nil, "exec", "-e", "-t", "pod/eph-target", "-n", ns, "--", "env")
	if r.code != 0 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	if got := envOf(r.stdout)[sample.EnvFirst]; got != sample.EnvFirstValue {
		t.Errorf("%s = %q through an ephemeral agent", sample.EnvFirst, got)
	}
	live, err := e.Client.CoreV1().Pods(ns).Get(e2eenv.Context(t, 10*time.Second), "eph-target", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(live.Spec.EphemeralContainers) != 1 {
		t.Errorf("want one ephemeral agent container, got %d", len(live.Spec.EphemeralContainers))
	}
}

// agentName finds the agent's name in JSON progress output.
func agentName(t *testing.T, stdout string) string {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		var m struct{ Type, Name string }
		if json.Unmarshal([]byte(line), &m) != nil || m.Type != "NewTask" {
			continue
		}
		if i := strings.Index(m.Name, "mirrord-agent-"); i >= 0 {
			return strings.Fields(m.Name[i:])[0]
		}
	}
	t.Fatalf("no agent name in the progress output:\n%s", stdout)
	return ""
}

// gone is nil when the agent Job and its pods no longer exist.
func gone(ctx context.Context, e *e2eenv.Env, job string) error {
	if _, err := e.Client.BatchV1().Jobs(e.Namespace).Get(ctx, job, metav1.GetOptions{}); err == nil {
		return fmt.Errorf("Job %s still exists", job)
	}
	pods, err := e.Client.CoreV1().Pods(e.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		return err
	}
	if len(pods.Items) > 0 {
		return fmt.Errorf("%d pods of Job %s still exist", len(pods.Items), job)
	}
	return nil
}
