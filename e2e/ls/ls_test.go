//go:build e2e

// Package ls is the e2e suite of `mirrord ls` (build tag e2e; run with
// `make e2e`): the built CLI runs in the laptop netns with the laptop
// kubeconfig, as an IDE on a developer's machine runs it, and its JSON is
// checked in both output modes against what the cluster holds.
package ls

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/e2e/cluster"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// bin is the mirrord binary built by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "mirrord-e2e-ls-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	version, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin = filepath.Join(dir, "mirrord")
	build := exec.Command("go", "build", "-ldflags", "-X github.com/mirrord-go/mirrord/internal/buildinfo.Version="+strings.TrimSpace(string(version)), "-o", bin, "./cli/cmd/mirrord")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mirrord: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is one run of the CLI.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// ls runs `mirrord ls args...` in the laptop netns with the laptop
// kubeconfig and the given extra environment.
func ls(t *testing.T, env *e2eenv.Env, extraEnv []string, args ...string) result {
	t.Helper()
	ctx := e2eenv.Context(t, time.Minute)
	cmd := env.LaptopCommand(ctx, bin, append([]string{"ls"}, args...)...)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"KUBECONFIG=" + env.LaptopKubeconfig,
	}, extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running mirrord ls: %v", err)
	}
	return r
}

// paths decodes the plain output, failing on anything else.
func paths(t *testing.T, r result) []string {
	t.Helper()
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("mirrord ls: exit %d, stderr %q", r.code, r.stderr)
	}
	var got []string
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got == nil {
		t.Fatalf("stdout %q is not a JSON array of strings: %v", r.stdout, err)
	}
	return got
}

type rich struct {
	Targets []struct {
		Path      string `json:"path"`
		Available *bool  `json:"available"`
	} `json:"targets"`
	CurrentNamespace *string  `json:"current_namespace"`
	Namespaces       []string `json:"namespaces"`
}

// readyPods lists the names of the running, ready pods in ns that are not
// mirrord agents, sorted as the API server lists them.
func readyPods(t *testing.T, env *e2eenv.Env, ns string) []string {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods(ns).List(e2eenv.Context(t, 10*time.Second), metav1.ListOptions{LabelSelector: "app!=mirrord"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
		}
		if ready && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	return names
}

// TestSampleNamespace lists the sample workloads: every pod (each has one
// container that is not a mesh sidecar, so each is listed as pod/<name>)
// and every deployment, in both output modes.
func TestSampleNamespace(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	for _, app := range []string{"web", "web-multi", "tcp-echo", "udp-logger", "sidecar-pod", "internal-only", "web-sts", "web-job"} {
		env.ReadyPod(t, app)
	}
	var want []string
	for _, p := range readyPods(t, env, env.Namespace) {
		want = append(want, "pod/"+p)
	}
	want = append(want, "deployment/internal-only", "deployment/tcp-echo", "deployment/udp-logger", "deployment/web", "deployment/web-multi")
	if !slices.Contains(want, "pod/sidecar-pod") || len(want) != 14 {
		t.Fatalf("the sample namespace is not as expected: %q", want)
	}

	r := ls(t, env, nil, "-n", env.Namespace)
	if got := paths(t, r); !slices.Equal(got, want) {
		t.Errorf("plain ls\n got %q\nwant %q", got, want)
	}
	t.Logf("mirrord ls (plain, laptop netns) took %s", r.took)

	r = ls(t, env, []string{"MIRRORD_LS_RICH_OUTPUT=true", "MIRRORD_TARGET_NAMESPACE=" + env.Namespace, "MIRRORD_PROGRESS_MODE=json"}, "-o", "json")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("rich ls: exit %d, stderr %q", r.code, r.stderr)
	}
	t.Logf("mirrord ls (rich, laptop netns) took %s", r.took)
	var got rich
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("rich output %q: %v", r.stdout, err)
	}
	var gotPaths []string
	for _, tg := range got.Targets {
		gotPaths = append(gotPaths, tg.Path)
		if tg.Available == nil || !*tg.Available {
			t.Errorf("%s: available = %v, want true", tg.Path, tg.Available)
		}
	}
	if !slices.Equal(gotPaths, want) {
		t.Errorf("rich targets\n got %q\nwant %q", gotPaths, want)
	}
	if got.CurrentNamespace == nil || *got.CurrentNamespace != env.Namespace {
		t.Errorf("current_namespace = %v, want %s", got.CurrentNamespace, env.Namespace)
	}
	for _, ns := range []string{"default", "kube-system", env.Namespace} {
		if !slices.Contains(got.Namespaces, ns) {
			t.Errorf("namespaces %q lack %s", got.Namespaces, ns)
		}
	}
	if !slices.IsSorted(got.Namespaces) {
		t.Errorf("namespaces %q are not sorted", got.Namespaces)
	}
}

// pausePod is a pod of pause containers, Ready as soon as they run.
func pausePod(ns, name string, labels map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}}
	zero := int64(0)
	p.Spec.TerminationGracePeriodSeconds = &zero
	p.Spec.Containers = podContainers(containers...)
	return p
}

func podContainers(names ...string) []corev1.Container {
	var cs []corev1.Container
	for _, c := range names {
		cs = append(cs, corev1.Container{Name: c, Image: cluster.PauseImage, ImagePullPolicy: corev1.PullNever})
	}
	return cs
}

// TestOwnNamespace lists a namespace this test fills: an agent pod (left
// out), pods with one, two and mesh-sidecar containers, a deployment, a
// Job, a CronJob and a Service, with and without type filters.
func TestOwnNamespace(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	ns := env.TempNamespace(t, "ls")
	ctx := e2eenv.Context(t, 2*time.Minute)

	// Before anything is created the namespace has no targets.
	if got := paths(t, ls(t, env, nil, "-n", ns)); len(got) != 0 {
		t.Errorf("empty namespace: %q, want []", got)
	}
	r := ls(t, env, []string{"MIRRORD_LS_RICH_OUTPUT=true"}, "-n", ns)
	if r.code != 0 || !strings.HasPrefix(r.stdout, `{"targets":[],"current_namespace":"`+ns+`","namespaces":[`) {
		t.Errorf("empty namespace, rich: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	env.CreatePod(t, pausePod(ns, "agent", map[string]string{"app": "mirrord"}, "mirrord-agent"))
	env.CreatePod(t, pausePod(ns, "solo", nil, "main"))
	env.CreatePod(t, pausePod(ns, "duo", nil, "a", "b"))
	env.CreatePod(t, pausePod(ns, "meshed", nil, "app", "istio-proxy"))
	one, zero := int32(1), int32(0)
	labels := map[string]string{"app": "dep"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "dep", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: podContainers("main")}}},
	}
	if _, err := env.Client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	jobSpec := batchv1.JobSpec{BackoffLimit: &zero, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: podContainers("main")}}}
	if _, err := env.Client.BatchV1().Jobs(ns).Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "batch", Namespace: ns}, Spec: jobSpec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	suspend := true
	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "cron", Namespace: ns},
		Spec: batchv1.CronJobSpec{Schedule: "0 0 1 1 *", Suspend: &suspend, JobTemplate: batchv1.JobTemplateSpec{Spec: jobSpec}}}
	if _, err := env.Client.BatchV1().CronJobs(ns).Create(ctx, cron, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc", Namespace: ns}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := env.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.Poll(t, time.Minute, "deployment dep available and the batch pod Ready", func(ctx context.Context) error {
		d, err := env.Client.AppsV1().Deployments(ns).Get(ctx, "dep", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.AvailableReplicas < 1 {
			return fmt.Errorf("deployment dep: %d available", d.Status.AvailableReplicas)
		}
		if n := len(readyPods(t, env, ns)); n != 5 {
			return fmt.Errorf("%d ready pods that are not agents, want 5", n)
		}
		return nil
	})
	var podPaths []string
	for _, p := range readyPods(t, env, ns) {
		switch {
		case p == "duo":
			podPaths = append(podPaths, "pod/duo/container/a", "pod/duo/container/b")
		default:
			podPaths = append(podPaths, "pod/"+p)
		}
	}
	if slices.Contains(podPaths, "pod/agent") || !slices.Contains(podPaths, "pod/meshed") {
		t.Fatalf("unexpected pods: %q", podPaths)
	}

	tests := []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{name: "default types", args: []string{"-n", ns}, want: append(slices.Clone(podPaths), "deployment/dep")},
		{name: "-t job -t service", args: []string{"-n", ns, "-t", "job", "-t", "service"}, want: []string{"job/batch", "service/svc"}},
		{name: "MIRRORD_LS_TARGET_TYPES", env: []string{`MIRRORD_LS_TARGET_TYPES=["cronjob","deployment"]`}, args: []string{"-n", ns}, want: []string{"cronjob/cron", "deployment/dep"}},
		{name: "MIRRORD_LS_TARGET_TYPES comma list", env: []string{"MIRRORD_LS_TARGET_TYPES=deployment,job"}, args: []string{"-n", ns}, want: []string{"deployment/dep", "job/batch"}},
		{name: "a type with nothing", args: []string{"-n", ns, "-t", "statefulset"}, want: []string{}},
		{name: "namespace from MIRRORD_TARGET_NAMESPACE", env: []string{"MIRRORD_TARGET_NAMESPACE=" + ns}, args: []string{"-t", "deployment"}, want: []string{"deployment/dep"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := paths(t, ls(t, env, tt.env, tt.args...)); !slices.Equal(got, tt.want) {
				t.Errorf("got %q\nwant %q", got, tt.want)
			}
		})
	}

	// A config file sets the kubeconfig and the namespace (no KUBECONFIG).
	cfg := filepath.Join(t.TempDir(), "mirrord.json")
	body := fmt.Sprintf(`{"kubeconfig": %q, "target": {"namespace": %q}}`, env.LaptopKubeconfig, ns)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	r = ls(t, env, []string{"KUBECONFIG=/nonexistent"}, "-f", cfg, "-t", "cronjob")
	if got := paths(t, r); !slices.Equal(got, []string{"cronjob/cron"}) {
		t.Errorf("with -f: %q", got)
	}
}

// TestErrors: failures are one `Error: <json>` line on stderr, nothing on
// stdout, and a non-zero exit, as the IDEs require.
func TestErrors(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{name: "unknown type", args: []string{"-t", "deploy"}, want: `-t/--type: unknown target type "deploy"`},
		{name: "targetless", env: []string{`MIRRORD_LS_TARGET_TYPES=["targetless"]`}, want: `target type "targetless" cannot be listed`},
		{name: "unknown context", env: []string{"MIRRORD_KUBE_CONTEXT=nope"}, want: `kube_context "nope" is not in the kubeconfig`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ls(t, env, tt.env, tt.args...)
			if r.code == 0 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
			}
			line, ok := strings.CutPrefix(r.stderr, "Error: ")
			if !ok || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("stderr %q is not one Error: line", r.stderr)
			}
			var e struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil || !strings.Contains(e.Message, tt.want) {
				t.Errorf("error %q (%v), want a message containing %q", line, err, tt.want)
			}
		})
	}
}
