//go:build e2e

package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/e2e/cluster"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// client builds a kube.Client the way the CLI does: from a config whose
// kubeconfig key names the cluster's kubeconfig.
func client(t *testing.T, env *e2eenv.Env) *kube.Client {
	t.Helper()
	cfg := schema.Default()
	cfg.Kubeconfig = env.Kubeconfig
	c, err := kube.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// podsOf lists the pods labelled app=<app> in the sample namespace.
func podsOf(t *testing.T, env *e2eenv.Env, app string) []string {
	t.Helper()
	pods, err := env.Client.CoreV1().Pods(env.Namespace).List(e2eenv.Context(t, 10*time.Second), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			names = append(names, p.Name)
		}
	}
	return names
}

func TestResolveSampleWorkloads(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	c := client(t, env)
	web := env.ReadyPod(t, "web")
	for _, app := range []string{"web-multi", "web-sts", "web-job"} {
		env.ReadyPod(t, app)
	}
	rs := web.OwnerReferences[0].Name
	tests := []struct {
		path      string
		pods      []string // any of these
		container string
		mesh      string
		warning   string
	}{
		{path: "deploy/web", pods: []string{web.Name}, container: "web"},
		{path: "deployment/web/container/web", pods: []string{web.Name}, container: "web"},
		{path: "pod/" + web.Name, pods: []string{web.Name}, container: "web"},
		{path: "deployment/web-multi", pods: podsOf(t, env, "web-multi"), container: "web", warning: "deployment/web-multi has 2 ready pods"},
		{path: "pod/sidecar-pod", pods: []string{"sidecar-pod"}, container: "web", mesh: "istio"},
		{path: "pod/sidecar-pod/container/istio-proxy", pods: []string{"sidecar-pod"}, container: "istio-proxy", mesh: "istio"},
		{path: "pod/sidecar-pod/container/web", pods: []string{"sidecar-pod"}, container: "web", mesh: "istio"},
		{path: "statefulset/web-sts", pods: []string{"web-sts-0"}, container: "web"},
		{path: "replicaset/" + rs, pods: []string{web.Name}, container: "web"},
		{path: "job/web-job", pods: podsOf(t, env, "web-job"), container: "web"},
		{path: "service/web", pods: []string{web.Name}, container: "web"},
		{path: "service/tcp-echo", pods: podsOf(t, env, "tcp-echo"), container: "tcp-echo"},
		{path: "label/app=web", pods: []string{web.Name}, container: "web"},
		{path: "label/app=udp-logger", pods: podsOf(t, env, "udp-logger"), container: "udp-logger"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := c.ResolveTarget(e2eenv.Context(t, 20*time.Second), tt.path, env.Namespace)
			if err != nil {
				t.Fatal(err)
			}
			if !contains(tt.pods, got.Pod.Name) || got.Container != tt.container {
				t.Fatalf("resolved to pod %s container %s; want one of %v, container %s", got.Pod.Name, got.Container, tt.pods, tt.container)
			}
			// The container ID and runtime are the kubelet's, split.
			var want string
			for _, st := range got.Pod.Status.ContainerStatuses {
				if st.Name == tt.container {
					want = st.ContainerID
				}
			}
			if got.Runtime+"://"+got.ContainerID != want || got.Runtime != "containerd" {
				t.Errorf("runtime %q id %q, want %q", got.Runtime, got.ContainerID, want)
			}
			if got.Node != cluster.NodeName || got.Namespace != env.Namespace || got.Mesh != tt.mesh || got.Path != tt.path {
				t.Errorf("node %q namespace %q mesh %q path %q", got.Node, got.Namespace, got.Mesh, got.Path)
			}
			warnings := strings.Join(got.Warnings, "\n")
			if (tt.warning == "") != (warnings == "") || !strings.Contains(warnings, tt.warning) {
				t.Errorf("warnings %q, want %q", warnings, tt.warning)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestResolveErrors(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	c := client(t, env)
	ns := env.Namespace
	tests := []struct {
		path, ns string
		is       error
		want     string // the whole message
	}{
		{path: "deploy/nope", ns: ns, is: kube.ErrTargetNotFound,
			want: "deployment/nope not found in namespace mirrord-e2e; list the targets with 'mirrord ls -n mirrord-e2e'"},
		{path: "deploy/wbe", ns: ns, is: kube.ErrTargetNotFound,
			want: "deployment/wbe not found in namespace mirrord-e2e; did you mean deployment/web?; list the targets with 'mirrord ls -n mirrord-e2e'"},
		{path: "pod/sidecar-pod/container/app", ns: ns, is: kube.ErrTargetNotFound,
			want: `container "app" not found in pod mirrord-e2e/sidecar-pod (its containers: web, istio-proxy)`},
		{path: "pod/web", ns: "no-such-namespace", is: kube.ErrTargetNotFound,
			want: `namespace "no-such-namespace" does not exist (looking for pod/web); set target.namespace (or -n) to an existing namespace`},
		{path: "rollout/web", ns: ns, is: kube.ErrTargetNotFound,
			want: "rollout/web: Argo Rollouts (the rollouts.argoproj.io CRD) is not installed in this cluster; target the Deployment or a pod instead"},
		{path: "label/app=nothing-has-this", ns: ns, is: kube.ErrTargetNotFound,
			want: "no pod matches label/app=nothing-has-this in namespace mirrord-e2e; check the labels with 'kubectl get pods -n mirrord-e2e --show-labels'"},
		{path: "cronjob/web-cron", ns: ns, is: kube.ErrTargetNotReady,
			want: "cronjob/web-cron in namespace mirrord-e2e has no Job yet (it has not run); start one with 'kubectl create job -n mirrord-e2e --from=cronjob/web-cron <job-name>' or target a running Job"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			got, err := c.ResolveTarget(e2eenv.Context(t, 20*time.Second), tt.path, tt.ns)
			if err == nil {
				t.Fatalf("resolved to %v", got)
			}
			if !errors.Is(err, tt.is) || err.Error() != tt.want {
				t.Errorf("error\n got %q\nwant %q (errors.Is %v)", err, tt.want, tt.is)
			}
		})
	}
	for _, p := range []string{"", "targetless"} {
		if got, err := c.ResolveTarget(e2eenv.Context(t, 5*time.Second), p, ns); got != nil || err != nil {
			t.Errorf("ResolveTarget(%q) = %v, %v; want nil, nil", p, got, err)
		}
	}
}

// TestResolveCronJob runs a Job from a CronJob, as a user would with
// 'kubectl create job --from=cronjob/...', and resolves the CronJob to its
// pod. It works on a copy of web-cron in a namespace of its own, so other
// suites never see the extra Job.
func TestResolveCronJob(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	c := client(t, env)
	ns := env.TempNamespace(t, "kube-cron")
	ctx := e2eenv.Context(t, 2*time.Minute)
	orig, err := env.Client.BatchV1().CronJobs(env.Namespace).Get(ctx, "web-cron", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "web-cron", Namespace: ns}, Spec: orig.Spec}
	for i := range cj.Spec.JobTemplate.Spec.Template.Spec.Containers {
		// Its ConfigMap lives in the sample namespace only.
		cj.Spec.JobTemplate.Spec.Template.Spec.Containers[i].EnvFrom = nil
	}
	if _, err := env.Client.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ResolveTarget(ctx, "cronjob/web-cron", ns); !errors.Is(err, kube.ErrTargetNotReady) {
		t.Fatalf("before any Job: %v, want ErrTargetNotReady", err)
	}
	for _, name := range []string{"run-1", "run-2"} {
		if out, err := env.Kubectl(ctx, "create", "job", "-n", ns, "--from=cronjob/web-cron", name).CombinedOutput(); err != nil {
			t.Fatalf("kubectl create job: %v: %s", err, out)
		}
		// Creation timestamps have a one-second resolution.
		time.Sleep(1100 * time.Millisecond)
	}
	var pod *corev1.Pod
	env.Poll(t, time.Minute, "the pod of Job run-2 Ready", func(ctx context.Context) error {
		pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=run-2"})
		if err != nil {
			return err
		}
		for i := range pods.Items {
			for _, cond := range pods.Items[i].Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					pod = &pods.Items[i]
					return nil
				}
			}
		}
		return fmt.Errorf("%d pods, none Ready", len(pods.Items))
	})
	got, err := c.ResolveTarget(ctx, "cronjob/web-cron", ns)
	if err != nil {
		t.Fatal(err)
	}
	if got.Pod.Name != pod.Name || got.Container != "web" {
		t.Errorf("cronjob/web-cron resolved to %s/%s, want the latest Job's pod %s", got.Pod.Name, got.Container, pod.Name)
	}
}
