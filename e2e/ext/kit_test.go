//go:build e2e

// Package ext is the contract kit for the upstream mirrord IDE plugins
// (build tag e2e): a small client, written from the behaviour reference
// (§5.2–5.6, §8.1, §8.4), that runs the built binary exactly as the VS Code
// extension and the JetBrains plugin do (their environment, arguments and
// working directory) and parses its output with parsers as strict as
// theirs: a blank, partial or non-JSON line where JSON is due fails.
package ext

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// ide is one plugin's call pattern.
type ide struct {
	name  string
	fixed map[string]string // the variables the plugin sets on every call
	// lsArgs builds the ls call: VS Code passes -n, JetBrains -o json
	// with the namespace by env.
	lsArgs func(ns string) ([]string, map[string]string)
	// targetless is how the plugin asks for no target.
	targetless []string
}

var ides = []ide{
	{
		name: "vscode",
		fixed: map[string]string{"MIRRORD_PROGRESS_MODE": "json", "MIRRORD_PROGRESS_SUPPORT_IDE": "true",
			"MIRRORD_IDE_NAME": "vscode", "MIRRORD_LS_RICH_OUTPUT": "true"},
		lsArgs: func(ns string) ([]string, map[string]string) {
			return []string{"ls", "-n", ns}, map[string]string{"MIRRORD_LS_TARGET_TYPES": `["deployment","rollout","pod"]`}
		},
		targetless: []string{"-t", "targetless"},
	},
	{
		name: "intellij",
		fixed: map[string]string{"MIRRORD_PROGRESS_MODE": "json", "MIRRORD_PROGRESS_SUPPORT_IDE": "true",
			"MIRRORD_IDE_NAME": "intellij", "MIRRORD_EXT_PRINT_CONFIG": "TRUE"},
		lsArgs: func(ns string) ([]string, map[string]string) {
			return []string{"ls", "-o", "json"}, map[string]string{"MIRRORD_LS_RICH_OUTPUT": "true", "MIRRORD_TARGET_NAMESPACE": ns}
		},
		targetless: nil,
	},
}

// kit runs the binary in the laptop netns with a private runtime dir, so
// the daemon ext starts (or reuses) is this test's and lives where the
// launched programs live.
type kit struct {
	e   *e2eenv.Env
	bin string
	rt  string
	ide ide
	// ideDir is the plugin's own working directory: never the workspace.
	ideDir string
}

func newKit(t *testing.T, e *e2eenv.Env, ide ide) *kit {
	t.Helper()
	rt, err := os.MkdirTemp("", "mrdx") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	k := &kit{e: e, bin: e2eenv.MirrordPath(t), rt: rt, ide: ide, ideDir: t.TempDir()}
	t.Cleanup(func() {
		// The daemon ext started: stop it (its sessions and agents with it).
		cmd := e.LaptopCommand(context.Background(), k.bin, "daemon", "stop")
		cmd.Env = k.env(nil)
		if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "no daemon") {
			t.Logf("mirrord daemon stop: %v %s", err, out)
		}
		os.RemoveAll(rt)
	})
	return k
}

// env is the process env: this test's, the launch env, then the plugin's
// fixed variables, which nothing may override.
func (k *kit) env(launch map[string]string) []string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		key, v, _ := strings.Cut(kv, "=")
		m[key] = v
	}
	m["KUBECONFIG"] = k.e.LaptopKubeconfig
	m["XDG_RUNTIME_DIR"], m["XDG_STATE_HOME"] = k.rt, k.rt
	// A short warm TTL for the daemon ext starts, so sessions end soon
	// after their programs.
	m["MIRRORD_DAEMON_WARM_TTL"] = "3s"
	for key, v := range launch {
		m[key] = v
	}
	for key, v := range k.ide.fixed {
		m[key] = v
	}
	out := make([]string, 0, len(m))
	for key, v := range m {
		out = append(out, key+"="+v)
	}
	return out
}

type run struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

// call runs one command to completion.
func (k *kit) call(t *testing.T, launch map[string]string, args ...string) run {
	t.Helper()
	ctx := e2eenv.Context(t, 3*time.Minute)
	cmd := k.e.LaptopCommand(ctx, k.bin, args...)
	cmd.Env, cmd.Dir = k.env(launch), k.ideDir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("mirrord %v: %v", args, err)
	}
	return run{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode(), took: time.Since(start)}
}

// checkStderr applies the rule both plugins depend on: "Error: " is only
// ever followed by JSON on the same line.
func checkStderr(t *testing.T, stderr string) {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		i := strings.Index(line, "Error: ")
		if i < 0 {
			continue
		}
		if !json.Valid([]byte(strings.TrimSpace(line[i+len("Error: "):]))) {
			t.Errorf("stderr line %q: \"Error: \" not followed by JSON (VS Code would hang)", line)
		}
	}
}

// oneDocument parses stdout as exactly one JSON document (ls,
// verify-config): nothing before, nothing after.
func oneDocument(t *testing.T, r run, v any) {
	t.Helper()
	checkStderr(t, r.stderr)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s\nstderr: %s", err, r.stdout, r.stderr)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON document: %s", r.stdout)
	}
}

// singleError checks a failure: non-zero exit and exactly one stderr
// line, "Error: " and a JSON object with a message.
func singleError(t *testing.T, r run) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if r.code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "Error: ") {
		t.Fatalf("want a non-zero exit and one stderr line \"Error: {json}\"; exit %d, stderr:\n%s", r.code, r.stderr)
	}
	var e struct {
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[0], "Error: ")), &e); err != nil || e.Message == "" {
		t.Fatalf("stderr %q: not a JSON error with a message (%v)", lines[0], err)
	}
	return e.Message
}

// message is one line of ext's stdout.
type message struct {
	Type    string          `json:"type"`
	Name    string          `json:"name"`
	Parent  *string         `json:"parent"`
	Success *bool           `json:"success"`
	Message json.RawMessage `json:"message"`
}

// execution is the final message's JSON string, as the plugins parse it.
type execution struct {
	Environment  map[string]string `json:"environment"`
	EnvToUnset   []string          `json:"env_to_unset"`
	PatchedPath  *string           `json:"patched_path"`
	UsesOperator bool              `json:"uses_operator"`
}

// extRun is a running `mirrord ext`, read as the plugins read it: line by
// line until the final task, with IntelliJ's strictness (any blank or
// non-JSON line fails).
type extRun struct {
	cmd       *exec.Cmd
	lines     []message
	final     *execution
	finalAt   time.Duration
	exitedAt  time.Duration
	stderr    *e2eenv.SyncBuffer
	exitCode  int
	started   time.Time
	exited    chan struct{}
	parseErrs []string
}

func (k *kit) ext(t *testing.T, launch map[string]string, args ...string) *extRun {
	t.Helper()
	ctx := e2eenv.Context(t, 3*time.Minute)
	cmd := k.e.LaptopCommand(ctx, k.bin, append([]string{"ext"}, args...)...)
	cmd.Env, cmd.Dir = k.env(launch), k.ideDir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &extRun{cmd: cmd, stderr: &e2eenv.SyncBuffer{}, exited: make(chan struct{}), started: time.Now()}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		var m message
		if line == "" || json.Unmarshal([]byte(line), &m) != nil || m.Type == "" {
			r.parseErrs = append(r.parseErrs, fmt.Sprintf("line %d %q is not a JSON message", len(r.lines)+1, line))
			continue
		}
		r.lines = append(r.lines, m)
		if m.Type == "FinishedTask" && m.Name == "mirrord preparing to launch" && m.Success != nil && *m.Success {
			r.finalAt = time.Since(r.started)
			var s string
			var ex execution
			if err := json.Unmarshal(m.Message, &s); err != nil {
				r.parseErrs = append(r.parseErrs, fmt.Sprintf("final message is not a JSON string: %s", m.Message))
			} else if err := json.Unmarshal([]byte(s), &ex); err != nil || ex.Environment == nil || ex.EnvToUnset == nil {
				r.parseErrs = append(r.parseErrs, fmt.Sprintf("final message %s: environment must be an object and env_to_unset an array (%v)", s, err))
			} else {
				r.final = &ex
			}
		}
	}
	_ = cmd.Wait()
	r.exitedAt = time.Since(r.started)
	r.exitCode = cmd.ProcessState.ExitCode()
	close(r.exited)
	checkStderr(t, r.stderr.String())
	return r
}

// launched runs a program in the laptop netns with the launch env, the
// final environment laid over it and env_to_unset removed, as both
// plugins do.
func (k *kit) launched(t *testing.T, launch map[string]string, ex *execution, name string, args ...string) (string, int) {
	t.Helper()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		key, v, _ := strings.Cut(kv, "=")
		env[key] = v
	}
	for key, v := range launch {
		env[key] = v
	}
	for key, v := range ex.Environment {
		env[key] = v
	}
	for _, key := range ex.EnvToUnset {
		delete(env, key)
	}
	// What the plugins add themselves (reference §8.1 items 7 and 9).
	env["MIRRORD_IGNORE_DEBUGGER_PORTS"] = "45000-65535"
	env["__MIRRORD_EXT_INJECTED"] = "true"
	cmd := k.e.LaptopCommand(e2eenv.Context(t, time.Minute), name, args...)
	for key, v := range env {
		cmd.Env = append(cmd.Env, key+"="+v)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %s: %v", name, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
