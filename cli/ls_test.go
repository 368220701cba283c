package cli

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mirrord-go/mirrord/daemon"
	"github.com/mirrord-go/mirrord/daemon/client"
	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

func lsPod(ns, name string, labels map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

// fakeLsCluster makes `ls` use a fake cluster whose context namespace is
// "apps", and records the config it was built from.
func fakeLsCluster(t *testing.T) *schema.Config {
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}},
		lsPod("apps", "web-1", map[string]string{"app": "web"}, "web"),
		lsPod("apps", "sidecar", nil, "web", "istio-proxy"),
		lsPod("apps", "multi", nil, "a", "b"),
		lsPod("apps", "mirrord-agent-x", map[string]string{"app": "mirrord"}, "mirrord-agent"),
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"}, Status: appsv1.DeploymentStatus{AvailableReplicas: 1}},
		lsPod("other", "db-0", nil, "db"),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"}},
	}
	cs := fake.NewClientset(objs...)
	seen := &schema.Config{}
	old := lsKubeClient
	lsKubeClient = func(cfg *schema.Config) (*kube.Client, error) {
		*seen = *cfg
		if cfg.KubeContext == "broken" {
			return nil, errors.New("kube_context \"broken\" is not in the kubeconfig")
		}
		return &kube.Client{Config: &rest.Config{Host: "https://fake:6443"}, Clientset: cs, Namespace: "apps"}, nil
	}
	t.Cleanup(func() { lsKubeClient = old })
	// No daemon of a developer's session may answer these tests.
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	for _, v := range []string{"MIRRORD_LS_RICH_OUTPUT", "MIRRORD_LS_TARGET_TYPES", "MIRRORD_TARGET_NAMESPACE", "MIRRORD_CONFIG_FILE", "MIRRORD_KUBE_CONTEXT"} {
		t.Setenv(v, "")
	}
	return seen
}

func TestLsPlain(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string
	}{
		{name: "defaults", want: []string{"pod/multi/container/a", "pod/multi/container/b", "pod/sidecar", "pod/web-1", "deployment/web"}},
		{name: "-n", args: []string{"-n", "other"}, want: []string{"pod/db-0"}},
		{name: "namespace from MIRRORD_TARGET_NAMESPACE", env: map[string]string{"MIRRORD_TARGET_NAMESPACE": "other"}, want: []string{"pod/db-0"}},
		{name: "-n beats MIRRORD_TARGET_NAMESPACE", env: map[string]string{"MIRRORD_TARGET_NAMESPACE": "other"}, args: []string{"-n", "quiet"}, want: []string{}},
		{name: "empty namespace", args: []string{"--namespace", "quiet"}, want: []string{}},
		{name: "-t in order", args: []string{"-t", "service", "-t", "deployment"}, want: []string{"service/web", "deployment/web"}},
		{name: "MIRRORD_LS_TARGET_TYPES JSON", env: map[string]string{"MIRRORD_LS_TARGET_TYPES": `["deployment","pod"]`},
			want: []string{"deployment/web", "pod/multi/container/a", "pod/multi/container/b", "pod/sidecar", "pod/web-1"}},
		{name: "MIRRORD_LS_TARGET_TYPES comma list", env: map[string]string{"MIRRORD_LS_TARGET_TYPES": "service, deployment"}, want: []string{"service/web", "deployment/web"}},
		{name: "-t beats MIRRORD_LS_TARGET_TYPES", env: map[string]string{"MIRRORD_LS_TARGET_TYPES": "pod"}, args: []string{"-t", "service"}, want: []string{"service/web"}},
		{name: "-o json", args: []string{"-o", "json", "-t", "deployment"}, want: []string{"deployment/web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeLsCluster(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, "", append([]string{"ls"}, tt.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			var got []string
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("stdout %q is not a JSON array of strings: %v", out, err)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") || got == nil {
				t.Errorf("ls = %q, want %q", got, tt.want)
			}
			if strings.Count(out, "\n") != 1 {
				t.Errorf("stdout %q is not one line", out)
			}
		})
	}
}

func TestLsRich(t *testing.T) {
	fakeLsCluster(t)
	t.Setenv("MIRRORD_LS_RICH_OUTPUT", "true")
	code, out, errOut := runCLI(t, "", "ls", "-t", "deployment")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"targets", "current_namespace", "namespaces"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("rich output lacks %q: %s", k, out)
		}
	}
	want := `{"targets":[{"path":"deployment/web","available":true}],"current_namespace":"apps","namespaces":["apps","other","quiet"]}` + "\n"
	if out != want {
		t.Errorf("rich output\n got %s\nwant %s", out, want)
	}
	// An empty namespace still has all three keys, targets an empty array.
	_, out, _ = runCLI(t, "", "ls", "-n", "quiet")
	if !strings.HasPrefix(out, `{"targets":[],"current_namespace":"quiet",`) {
		t.Errorf("empty namespace rich output = %s", out)
	}
}

// A user who may not list namespaces still gets the rich object, with the
// current namespace as the only one.
func TestLsRichNamespacesForbidden(t *testing.T) {
	fakeLsCluster(t)
	old := lsKubeClient
	lsKubeClient = func(cfg *schema.Config) (*kube.Client, error) {
		c, err := old(cfg)
		if err != nil {
			return nil, err
		}
		c.Clientset.(*fake.Clientset).PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(corev1.Resource("namespaces"), "", errors.New("no"))
		})
		return c, nil
	}
	t.Setenv("MIRRORD_LS_RICH_OUTPUT", "true")
	code, out, errOut := runCLI(t, "", "ls", "-t", "deployment")
	want := `{"targets":[{"path":"deployment/web","available":true}],"current_namespace":"apps","namespaces":["apps"]}` + "\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, stdout %s, stderr %q; want %s", code, out, errOut, want)
	}
}

func TestLsConfigFile(t *testing.T) {
	seen := fakeLsCluster(t)
	cfg := writeFile(t, "m.yaml", "target:\n  namespace: other\nkube_context: dev\n")
	code, out, errOut := runCLI(t, "", "ls", "-f", cfg)
	if code != 0 || out != `["pod/db-0"]`+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if seen.KubeContext != "dev" {
		t.Errorf("kube_context from the file not used: %q", seen.KubeContext)
	}
	t.Setenv("MIRRORD_CONFIG_FILE", cfg)
	if _, out, _ := runCLI(t, "", "ls"); out != `["pod/db-0"]`+"\n" {
		t.Errorf("MIRRORD_CONFIG_FILE not honoured: %q", out)
	}
}

func TestLsErrorsAreIDEJSON(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "unknown type", args: []string{"-t", "pods"}, want: `-t/--type: unknown target type "pods"`},
		{name: "targetless type", env: map[string]string{"MIRRORD_LS_TARGET_TYPES": `["targetless"]`}, want: `MIRRORD_LS_TARGET_TYPES: target type "targetless" cannot be listed`},
		{name: "bad JSON types", env: map[string]string{"MIRRORD_LS_TARGET_TYPES": `["pod"`}, want: "expected a JSON array"},
		{name: "output format", args: []string{"-o", "yaml"}, want: `-o/--output "yaml" is not supported`},
		{name: "bad config", args: []string{"-f", "/nonexistent/m.json"}, want: "config file not found"},
		{name: "kube client", env: map[string]string{"MIRRORD_KUBE_CONTEXT": "broken"}, want: `kube_context \"broken\"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fakeLsCluster(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCLI(t, "", append([]string{"ls"}, tt.args...)...)
			if code == 0 || out != "" {
				t.Fatalf("exit %d, stdout %q", code, out)
			}
			if !strings.HasPrefix(errOut, "Error: ") || strings.Count(errOut, "\n") != 1 {
				t.Fatalf("stderr %q is not one Error: line", errOut)
			}
			var e struct{ Message string }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(errOut, "Error: ")), &e); err != nil {
				t.Fatalf("stderr %q: %v", errOut, err)
			}
			if !strings.Contains(e.Message, strings.ReplaceAll(tt.want, `\"`, `"`)) {
				t.Errorf("message %q lacks %q", e.Message, tt.want)
			}
		})
	}
}

// With a daemon running, ls lists through it and prints exactly what it
// prints without one.
func TestLsThroughDaemon(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
	}{
		{name: "defaults"},
		{name: "-n", args: []string{"-n", "other"}},
		{name: "-t in order", args: []string{"-t", "service", "-t", "deployment"}},
		{name: "config file", args: []string{"-f", "CFG"}},
		{name: "rich", env: map[string]string{"MIRRORD_LS_RICH_OUTPUT": "true"}},
		{name: "rich empty namespace", env: map[string]string{"MIRRORD_LS_RICH_OUTPUT": "true"}, args: []string{"-n", "quiet"}},
		{name: "error", env: map[string]string{"MIRRORD_KUBE_CONTEXT": "broken"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fakeLsCluster(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg := writeFile(t, "m.yaml", "target:\n  namespace: other\n")
			args := []string{"ls"}
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "CFG", cfg))
			}
			code, want, wantErr := runCLI(t, "", args...)
			calls := serveLsDaemon(t)
			got, gotCode := "", 0
			gotCode, got, gotErr := runCLI(t, "", args...)
			if gotCode != code || got != want || gotErr != wantErr {
				t.Errorf("through the daemon: exit %d, stdout %q, stderr %q\nwithout: exit %d, stdout %q, stderr %q", gotCode, got, gotErr, code, want, wantErr)
			}
			if *calls == 0 {
				t.Error("ls did not use the running daemon")
			}
		})
	}
}

// serveLsDaemon runs an in-process daemon on this build's socket (under
// the test's XDG_RUNTIME_DIR) over the fake cluster, and counts the
// clients it builds.
func serveLsDaemon(t *testing.T) *int {
	t.Helper()
	sock, err := client.SocketPath(client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	calls := new(int)
	var mu sync.Mutex
	s := daemon.New(daemon.Options{NewKubeClient: func(cfg *schema.Config) (*kube.Client, error) {
		mu.Lock()
		*calls++
		mu.Unlock()
		return lsKubeClient(cfg)
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return calls
}
