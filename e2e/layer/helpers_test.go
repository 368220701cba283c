//go:build e2e

// Package layer_test proves the layer end to end: local programs in
// several languages, run under `mirrord exec` inside the laptop netns
// (which reaches only the API server), read the pod's files, reach and
// resolve its services, and see its hostname. Anything that reaches the
// cluster network must have gone through the agent.
package layer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// result is one finished mirrord run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// mirrord runs `mirrord args...` in the laptop netns with extra env.
func mirrord(t *testing.T, e *e2eenv.Env, env []string, args ...string) result {
	t.Helper()
	ctx := e2eenv.Context(t, 3*time.Minute)
	cmd := e.Mirrord(t, ctx, args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.ProcessState == nil {
		t.Fatalf("running mirrord %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: cmd.ProcessState.ExitCode()}
}

// execArgs is `mirrord exec` against deploy/web with a config file
// (none when cfg is "").
func execArgs(e *e2eenv.Env, cfg string, argv ...string) []string {
	args := []string{"exec", "-t", "deploy/web", "-n", e.Namespace}
	if cfg != "" {
		args = append(args, "-f", cfg)
	}
	return append(append(args, "--"), argv...)
}

// writeConfig writes a config file for one test.
func writeConfig(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// repoFile is a path in this package's directory.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test's source")
	}
	return filepath.Join(filepath.Dir(file), rel)
}

var (
	buildMu sync.Mutex
	builds  = map[string]string{}
	binDir  string
)

// build runs a build command once per test binary and returns out.
func build(t *testing.T, key string, run func(out, dir string) *exec.Cmd) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builds[key]; ok {
		return p
	}
	if binDir == "" {
		d, err := os.MkdirTemp("", "mirrord-e2e-layer-")
		if err != nil {
			t.Fatal(err)
		}
		binDir = d
	}
	out := filepath.Join(binDir, key)
	cmd := run(out, binDir)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", key, err, b)
	}
	builds[key] = out
	return out
}

// goProbe builds the Go row's probe with cgo on or off.
func goProbe(t *testing.T, cgo bool) string {
	key := "goprobe-static"
	if cgo {
		key = "goprobe-cgo"
	}
	return build(t, key, func(out, _ string) *exec.Cmd {
		cmd := exec.Command(e2eenv.GoTool(), "build", "-o", out, ".")
		cmd.Dir = repoFile(t, "testdata/go")
		cmd.Env = append(os.Environ(), fmt.Sprintf("CGO_ENABLED=%d", map[bool]int{false: 0, true: 1}[cgo]))
		return cmd
	})
}

// python is the real interpreter (not a version manager's shim script),
// so the row measures Python and not the shim.
func python(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("python3 is needed for the Python row (make deps installs it): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// pythonPrefix is the installation the interpreter runs from (the
// directory above its bin/).
func pythonPrefix(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("python3", "-c", "import sys; print(sys.base_prefix)").Output()
	if err != nil {
		t.Fatalf("python3 is needed for the Python row (make deps installs it): %v", err)
	}
	return strings.TrimSpace(string(out))
}

// javaProbe compiles Probe.java and returns the class directory.
func javaProbe(t *testing.T) string {
	return build(t, "java", func(out, _ string) *exec.Cmd {
		return exec.Command("javac", "-d", out, repoFile(t, "testdata/java/Probe.java"))
	})
}

// facts are the cluster values the cells are checked against.
type facts struct {
	podName                         string
	webIP, kubernetesIP, internalIP string
}

func clusterFacts(t *testing.T, e *e2eenv.Env) facts {
	t.Helper()
	ctx := e2eenv.Context(t, 20*time.Second)
	ip := func(ns, name string) string {
		svc, err := e.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.Spec.ClusterIP
	}
	return facts{
		podName:      e.ReadyPod(t, "web").Name,
		webIP:        ip(e.Namespace, "web"),
		kubernetesIP: ip("default", "kubernetes"),
		internalIP:   ip(e.Namespace, "internal-only"),
	}
}

// podLogs returns the logs of the pods of an app.
func podLogs(ctx context.Context, e *e2eenv.Env, app string) (string, error) {
	pods, err := e.Client.CoreV1().Pods(e.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return "", err
	}
	var all strings.Builder
	for _, p := range pods.Items {
		b, err := e.Client.CoreV1().Pods(e.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return "", err
		}
		all.Write(b)
	}
	return all.String(), nil
}

// cellLines parses "CELL <name> OK|ERR <value>" lines.
func cellLines(out string) map[string]cellResult {
	m := map[string]cellResult{}
	for _, line := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(line, "CELL ")
		if !ok {
			continue
		}
		name, rest, _ := strings.Cut(rest, " ")
		status, value, _ := strings.Cut(rest, " ")
		m[name] = cellResult{ok: status == "OK", value: value}
	}
	return m
}

type cellResult struct {
	ok    bool
	value string
}

// noMirrordMounts fails when a remote file system mount is left.
func noMirrordMounts(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, " - fuse.mirrord ") {
			t.Errorf("a mirrord mount is left: %s", line)
		}
	}
}
