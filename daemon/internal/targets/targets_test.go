package targets

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// An edited kubeconfig (here: its current context) is picked up on the
// next list, without restarting anything; an unchanged one reuses the
// client and the informers.
func TestKubeconfigChangePickedUp(t *testing.T) {
	kcfg := filepath.Join(t.TempDir(), "config")
	write := func(ctx string) {
		t.Helper()
		if err := os.WriteFile(kcfg, []byte(ctx), 0o600); err != nil {
			t.Fatal(err)
		}
		// Same size edits within one mtime tick must still be seen.
		future := time.Now().Add(time.Duration(len(ctx)) * time.Second)
		_ = os.Chtimes(kcfg, future, future)
	}
	write("one")
	t.Setenv("KUBECONFIG", kcfg)
	clusters := map[string]*fake.Clientset{
		"one": fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "default"}, Status: runningReady()}),
		"two": fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "default"}, Status: runningReady()}),
	}
	builds := 0
	c := New(Options{NewClient: func(cfg *schema.Config) (*kube.Client, error) {
		builds++
		b, err := os.ReadFile(kcfg)
		if err != nil {
			return nil, err
		}
		ctx := strings.TrimSpace(string(b))
		return &kube.Client{Config: &rest.Config{Host: "https://" + ctx}, Clientset: clusters[ctx], Namespace: "default", Context: ctx}, nil
	}})
	t.Cleanup(c.Close)
	list := func() *ListResult {
		t.Helper()
		r, err := c.List(context.Background(), schema.Default(), "", []string{"pod"}, false, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := list(); r.KubeContext != "one" || len(r.Targets) != 1 || r.Targets[0].Path != "pod/a" {
		t.Fatalf("first list: %+v", r)
	}
	list()
	if builds != 1 {
		t.Errorf("an unchanged kubeconfig rebuilt the client: %d builds", builds)
	}
	write("two")
	if r := list(); r.KubeContext != "two" || len(r.Targets) != 1 || r.Targets[0].Path != "pod/b" {
		t.Fatalf("after switching the context: %+v", r)
	}
	if cl, ns := c.Stats(); cl != 2 || ns != 2 {
		t.Errorf("caches: %d clusters, %d namespaces", cl, ns)
	}
	// Idle caches stop.
	c.reap(time.Now().Add(time.Hour))
	if cl, _ := c.Stats(); cl != 0 {
		t.Errorf("%d clusters left after the idle period", cl)
	}
}

func runningReady() corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
}
