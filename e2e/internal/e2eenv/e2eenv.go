// Package e2eenv gives the e2e suites (build tag e2e) what they share about
// the local cluster of e2e/cluster: the kubeconfig, a clientset, the
// kubectl the harness built, exec and port-forward through client-go,
// throwaway namespaces, and the "laptop" network namespace from which only
// the API server is reachable. Suites stand for a developer's machine by
// running their programs through Laptop helpers.
//
// Get fails the test, never skips it, when the cluster cannot be used, and
// says why (not root, no cluster running): `make e2e` starts the cluster
// first, so a missing cluster is a bug in how the tests were run.
package e2eenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/mirrord-go/mirrord/e2e/cluster"
)

// Env is the local cluster as the tests see it.
type Env struct {
	// Dir is the cluster's state directory ($CLUSTER_DIR).
	Dir string
	// Kubeconfig is the admin kubeconfig for this host; LaptopKubeconfig the
	// one for use inside the laptop netns (server https://<node IP>:6443).
	Kubeconfig, LaptopKubeconfig string
	// KubectlPath is the kubectl built with the cluster (never the one on PATH).
	KubectlPath string
	// Namespace holds the sample workloads.
	Namespace string
	Config    *rest.Config
	Client    kubernetes.Interface
}

var (
	once   sync.Once
	shared *Env
	errEnv error
)

// Get returns the shared Env, or fails the test with the reason the cluster
// cannot be used.
func Get(t testing.TB) *Env {
	t.Helper()
	once.Do(func() { shared, errEnv = load() })
	if errEnv != nil {
		t.Fatalf("e2e: the local cluster is not usable: %v", errEnv)
	}
	return shared
}

func load() (*Env, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the e2e suites need root (the cluster and the laptop netns are root-only); run 'sudo make e2e'")
	}
	c, err := cluster.New(cluster.DirFromEnv())
	if err != nil {
		return nil, err
	}
	e := &Env{
		Dir: c.Dir, Kubeconfig: c.Kubeconfig(), LaptopKubeconfig: c.LaptopKubeconfig(),
		KubectlPath: c.Kubectl(), Namespace: cluster.Namespace,
	}
	for _, f := range []string{e.Kubeconfig, e.LaptopKubeconfig, e.KubectlPath} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%w: start the cluster with 'make cluster' (make e2e does it)", err)
		}
	}
	if e.Config, err = c.RESTConfig(); err != nil {
		return nil, err
	}
	if e.Client, err = kubernetes.NewForConfig(e.Config); err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.Client.CoreV1().Namespaces().Get(ctx, e.Namespace, metav1.GetOptions{}); err != nil {
		return nil, fmt.Errorf("API server at %s: %w: is the cluster running? ('make cluster')", e.Config.Host, err)
	}
	return e, nil
}

// Context returns a context that ends with the test or after d.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Kubectl returns a kubectl command for this cluster (the kubeconfig is
// passed explicitly; ~/.kube/config is never read).
func (e *Env) Kubectl(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, e.KubectlPath, append([]string{"--kubeconfig", e.Kubeconfig}, args...)...)
}

// LaptopCommand returns a command that runs inside the laptop netns, as a
// program on a developer's machine would: it reaches the API server at the
// node IP and nothing else of the cluster.
func (e *Env) LaptopCommand(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", cluster.LaptopNetns, name}, args...)...)
}

// LaptopKubectl returns a kubectl command that runs inside the laptop netns
// with the laptop kubeconfig.
func (e *Env) LaptopKubectl(ctx context.Context, args ...string) *exec.Cmd {
	return e.LaptopCommand(ctx, e.KubectlPath, append([]string{"--kubeconfig", e.LaptopKubeconfig}, args...)...)
}

// TempNamespace creates a namespace for one test and deletes it (without
// waiting) when the test ends.
func (e *Env) TempNamespace(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := prefix + "-" + hex.EncodeToString(b)
	ctx := Context(t, 30*time.Second)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"e2e.mirrord.local/temp": "true"}}}
	if _, err := e.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	// Pods are refused until the default ServiceAccount exists.
	e.Poll(t, 30*time.Second, "default ServiceAccount in "+name, func(ctx context.Context) error {
		_, err := e.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	return name
}

// Poll calls check every 200ms until it returns nil; after timeout it fails
// the test with the last error. For waiting on cluster state, not for
// retrying flaky assertions.
func (e *Env) Poll(t testing.TB, timeout time.Duration, what string, check func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := check(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: not done after %s: %v", what, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CreatePod creates pod, deletes it when the test ends, and waits until it
// is Ready; it returns the live pod.
func (e *Env) CreatePod(t testing.TB, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	created, err := e.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		zero := int64(0)
		err := e.Client.CoreV1().Pods(created.Namespace).Delete(ctx, created.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete pod %s/%s: %v", created.Namespace, created.Name, err)
		}
	})
	return e.WaitPodReady(t, created.Namespace, created.Name, 60*time.Second)
}

// WaitPodReady waits until the pod is Ready and returns it.
func (e *Env) WaitPodReady(t testing.TB, ns, name string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	e.Poll(t, timeout, "pod "+ns+"/"+name+" Ready", func(ctx context.Context) error {
		p, err := e.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				pod = p
				return nil
			}
		}
		return fmt.Errorf("phase %s, containers %s", p.Status.Phase, containerStates(p))
	})
	return pod
}

// ReadyPod returns a Ready pod of the sample workload whose pods carry
// label app=<app> in the sample namespace.
func (e *Env) ReadyPod(t testing.TB, app string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	e.Poll(t, 60*time.Second, "a Ready pod of "+app, func(ctx context.Context) error {
		pods, err := e.Client.CoreV1().Pods(e.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil {
				continue
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					pod = p
					return nil
				}
			}
		}
		return fmt.Errorf("%d pods, none Ready", len(pods.Items))
	})
	return pod
}

func containerStates(p *corev1.Pod) string {
	var s []string
	for _, st := range p.Status.ContainerStatuses {
		switch {
		case st.State.Waiting != nil:
			s = append(s, st.Name+"="+st.State.Waiting.Reason)
		case st.State.Terminated != nil:
			s = append(s, fmt.Sprintf("%s=exited(%d)", st.Name, st.State.Terminated.ExitCode))
		default:
			s = append(s, st.Name+"=running")
		}
	}
	return strings.Join(s, ",")
}

// GoTool is the go command the harness builds with (cluster.GoTool), or
// "go" when there is none, so that the build's own error names it.
func GoTool() string {
	if p, err := cluster.GoTool(); err == nil {
		return p
	}
	return "go"
}
