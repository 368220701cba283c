package daemon_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/mirrord-go/mirrord/daemon"
	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// serveEnv makes the test binary act as `mirrord daemon serve` when a
// client auto-starts it: the cross-process suite runs the same table
// against a daemon in a separate process, started the way the CLI does.
const serveEnv = "MIRRORD_DAEMON_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) == "1" && len(os.Args) > 2 && os.Args[1] == "daemon" && os.Args[2] == "serve" {
		os.Exit(serveMain(os.Args[3:]))
	}
	if mode := os.Getenv(fakeRunnerEnv); mode != "" && len(os.Args) > 1 && os.Args[1] == "runner" {
		os.Exit(fakeRunner(mode, os.Args[2:]))
	}
	// Session runners are this binary too (fakeRunner), in both suites;
	// a start can ask for another mode through its launch env.
	if os.Getenv(fakeRunnerEnv) == "" {
		os.Setenv(fakeRunnerEnv, "ok")
	}
	// The daemon logs to its file in production; tests keep only warnings.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	os.Exit(m.Run())
}

func serveMain(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	socket := fs.String("socket", "", "")
	idle := fs.Duration("idle-timeout", 0, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(*socket), "daemon.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 1
	}
	defer logf.Close()
	slog.SetDefault(slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	opts := testOptions(nil)
	opts.Socket, opts.IdleTimeout, opts.LogFile = *socket, *idle, logf.Name()
	if err := daemon.Run(ctx, opts); err != nil {
		fmt.Fprintln(logf, "serve:", err)
		return 1
	}
	return 0
}

func readyPod(ns, name string, labels map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	return p
}

// fakeObjects is the fake cluster both suites list: context namespace
// "apps".
func fakeObjects() []runtime.Object {
	pending := readyPod("apps", "pending-1", nil, "web")
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending}
	return []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "apps"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other"}},
		readyPod("apps", "web-1", map[string]string{"app": "web"}, "web"),
		readyPod("apps", "multi", nil, "a", "b"),
		readyPod("apps", "sidecar", nil, "web", "istio-proxy"),
		readyPod("apps", "mirrord-agent-x", map[string]string{"app": "mirrord"}, "mirrord-agent"),
		pending,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps"}, Status: appsv1.DeploymentStatus{AvailableReplicas: 1}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "down", Namespace: "apps"}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "apps"}},
		readyPod("other", "db-0", nil, "db"),
	}
}

// testOptions is a daemon on a fake cluster (cs nil: a fresh one with
// fakeObjects) with the real config services.
func testOptions(cs *fake.Clientset) daemon.Options {
	if cs == nil {
		cs = fake.NewClientset(fakeObjects()...)
	}
	return daemon.Options{
		NewKubeClient: func(cfg *schema.Config) (*kube.Client, error) {
			if cfg.KubeContext == "broken" {
				return nil, fmt.Errorf("kube_context %q is not in the kubeconfig: list the contexts with 'kubectl config get-contexts' and fix kube_context (or --context)", cfg.KubeContext)
			}
			return &kube.Client{Config: &rest.Config{Host: "https://fake:6443"}, Clientset: cs, Namespace: "apps", Context: "fake"}, nil
		},
		TargetsDebounce: 50 * time.Millisecond,
		Sessions:        daemon.SessionOptions{Runner: []string{testExe(), "runner"}, WarmTTL: 2 * time.Second},
		Env:             func(string) (string, bool) { return "", false },
		Deps:            daemon.DefaultDeps(daemon.UpdateOptions{FeedURL: os.Getenv("MIRRORD_DAEMON_TEST_FEED"), DataDir: os.Getenv("MIRRORD_DAEMON_TEST_DATA")}),
	}
}
