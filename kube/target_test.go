package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func targetCluster(t *testing.T, rollouts bool) *cluster {
	web := map[string]string{"app": "web"}
	nightly := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: testNS, UID: "cj-uid"}}
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}},
		readyPod("web-1", web, []string{"app"}),
		readyPod("web-2", web, []string{"app"}, olderBy(time.Hour)),
		readyPod("web-3", web, []string{"app"}, olderBy(2*time.Hour), pending),
		readyPod("sidecar", nil, []string{"app", "istio-proxy"}),
		readyPod("multi", nil, []string{"a", "b"}),
		readyPod("annotated", nil, []string{"a", "b"}, annotate(defaultContainerAnnotation, "b")),
		readyPod("pending", nil, []string{"app"}, pending),
		readyPod("unready", nil, []string{"app"}, notReady),
		readyPod("db-0", map[string]string{"app": "db"}, []string{"db"}),
		readyPod("batch-x", map[string]string{"app": "batch"}, []string{"main"}),
		readyPod("nightly-2-abc", map[string]string{"job-name": "nightly-2"}, []string{"main"}),
		readyPod("nightly-1-old", map[string]string{"job-name": "nightly-1"}, []string{"main"}),
		readyPod("mirrord-agent-x", map[string]string{"app": "mirrord", "team": "x"}, []string{"mirrord-agent"}),
		deployment("web", web, 2),
		deployment("empty", map[string]string{"app": "none"}, 0),
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: testNS}, Spec: appsv1.StatefulSetSpec{Selector: selector(map[string]string{"app": "db"})}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-rs", Namespace: testNS}, Spec: appsv1.ReplicaSetSpec{Selector: selector(web)}},
		job("batch", map[string]string{"app": "batch"}, nil, 0),
		nightly,
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "never", Namespace: testNS, UID: "never-uid"}},
		job("nightly-1", map[string]string{"job-name": "nightly-1"}, nightly, 2*time.Hour),
		job("nightly-2", map[string]string{"job-name": "nightly-2"}, nightly, time.Hour),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: testNS}, Spec: corev1.ServiceSpec{Selector: web}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: testNS}},
	}
	if rollouts {
		objs = append(objs,
			rollout("r1", map[string]any{"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}}}),
			rollout("r2", map[string]any{"workloadRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}),
		)
	}
	return newCluster(t, rollouts, objs...)
}

func TestResolveTarget(t *testing.T) {
	tests := []struct {
		path, ns  string
		rollouts  bool
		pod, ctr  string
		warn      string // a warning that must be present ("" = none at all)
		mesh      string
		wantErr   error
		errSubstr []string
	}{
		{path: "", pod: ""},
		{path: "targetless", pod: ""},
		{path: "pod/web-1", pod: "web-1", ctr: "app"},
		{path: "pod/sidecar", pod: "sidecar", ctr: "app", mesh: "istio"},
		{path: "pod/sidecar/container/istio-proxy", pod: "sidecar", ctr: "istio-proxy", mesh: "istio"},
		{path: "pod/multi", pod: "multi", ctr: "a", warn: "several containers (a, b); mirrord picked a"},
		{path: "pod/annotated", pod: "annotated", ctr: "b"},
		{path: "pod/multi/container/b", pod: "multi", ctr: "b"},
		{path: "pod/multi/container/zzz", wantErr: ErrTargetNotFound, errSubstr: []string{`container "zzz" not found in pod apps/multi (its containers: a, b)`}},
		{path: "pod/nope", wantErr: ErrTargetNotFound, errSubstr: []string{"pod/nope not found in namespace apps", "mirrord ls -n apps"}},
		{path: "pod/web-l", wantErr: ErrTargetNotFound, errSubstr: []string{"did you mean pod/web-1?"}},
		{path: "pod/pending", wantErr: ErrTargetNotReady, errSubstr: []string{"pod apps/pending is not running (Pending"}},
		{path: "pod/unready", wantErr: ErrTargetNotReady, errSubstr: []string{"container app of pod apps/unready is not ready"}},
		{path: "pod/web-1", ns: "ghost", wantErr: ErrTargetNotFound, errSubstr: []string{`namespace "ghost" does not exist`}},
		{path: "deploy/web", pod: "web-2", ctr: "app", warn: "deployment/web has 2 ready pods; mirrord uses pod/web-2, so traffic to the other pods is not seen"},
		{path: "deployment/web/container/app", pod: "web-2", ctr: "app", warn: "has 2 ready pods; mirrord uses pod/web-2"},
		{path: "deployment/empty", wantErr: ErrTargetNotReady, errSubstr: []string{"deployment/empty in namespace apps has no pods"}},
		{path: "deploy/wbe", wantErr: ErrTargetNotFound, errSubstr: []string{"deployment/wbe not found in namespace apps; did you mean deployment/web?"}},
		{path: "statefulset/db", pod: "db-0", ctr: "db"},
		{path: "replicaset/web-rs", pod: "web-2", ctr: "app", warn: "has 2 ready pods; mirrord uses pod/web-2"},
		{path: "job/batch", pod: "batch-x", ctr: "main"},
		{path: "cronjob/nightly", pod: "nightly-2-abc", ctr: "main"},
		{path: "cronjob/never", wantErr: ErrTargetNotReady, errSubstr: []string{"cronjob/never in namespace apps has no Job yet", "kubectl create job -n apps --from=cronjob/never"}},
		{path: "service/web", pod: "web-2", ctr: "app", warn: "has 2 ready pods; mirrord uses pod/web-2"},
		{path: "service/headless", wantErr: ErrTargetNotReady, errSubstr: []string{"service/headless in namespace apps has no pod selector"}},
		{path: "label/app=web", pod: "web-2", ctr: "app", warn: "has 2 ready pods; mirrord uses pod/web-2"},
		{path: "label/app=db/container/db", pod: "db-0", ctr: "db"},
		{path: "label/team=x", wantErr: ErrTargetNotFound, errSubstr: []string{"no pod matches label/team=x in namespace apps"}},
		{path: "rollout/r1", rollouts: true, pod: "web-2", ctr: "app", warn: "has 2 ready pods; mirrord uses pod/web-2"},
		{path: "rollout/r2", rollouts: true, pod: "web-2", ctr: "app", warn: "has 2 ready pods; mirrord uses pod/web-2"},
		{path: "rollout/r3", rollouts: true, wantErr: ErrTargetNotFound, errSubstr: []string{"rollout/r3 not found in namespace apps"}},
		{path: "rollout/r1", wantErr: ErrTargetNotFound, errSubstr: []string{"Argo Rollouts (the rollouts.argoproj.io CRD) is not installed"}},
		{path: "bogus/x", errSubstr: []string{`invalid target "bogus/x"`}},
	}
	for _, tt := range tests {
		name := tt.path
		if tt.rollouts {
			name += " (rollouts installed)"
		}
		t.Run(name, func(t *testing.T) {
			cl := targetCluster(t, tt.rollouts)
			got, err := cl.c.ResolveTarget(context.Background(), tt.path, tt.ns)
			if tt.errSubstr != nil {
				if err == nil {
					t.Fatalf("resolved to %v, want an error", got)
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %q is not %v", err, tt.wantErr)
				}
				for _, s := range tt.errSubstr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q is not one line", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.pod == "" {
				if got != nil {
					t.Fatalf("got %v, want nil (targetless)", got)
				}
				return
			}
			if got.Pod.Name != tt.pod || got.Container != tt.ctr {
				t.Errorf("resolved to pod %s container %s, want %s %s", got.Pod.Name, got.Container, tt.pod, tt.ctr)
			}
			if want := "id-" + tt.pod + "-" + tt.ctr; got.ContainerID != want || got.Runtime != "containerd" {
				t.Errorf("container ID %q runtime %q, want %q containerd", got.ContainerID, got.Runtime, want)
			}
			if got.Node != "node-1" || got.Namespace != testNS || got.Path != tt.path || got.Mesh != tt.mesh {
				t.Errorf("node %q namespace %q path %q mesh %q", got.Node, got.Namespace, got.Path, got.Mesh)
			}
			joined := strings.Join(got.Warnings, "\n")
			if tt.warn == "" && joined != "" {
				t.Errorf("unexpected warnings %q", joined)
			}
			if tt.warn != "" && !strings.Contains(joined, tt.warn) {
				t.Errorf("warnings %q lack %q", joined, tt.warn)
			}
		})
	}
}

func TestDetectMesh(t *testing.T) {
	tests := []struct {
		containers, inits []string
		annotation        string
		want              string
	}{
		{containers: []string{"app"}, want: ""},
		{containers: []string{"app", "istio-proxy"}, want: "istio"},
		{containers: []string{"app", "istio-proxy"}, inits: []string{"istio-validation"}, want: "istio-cni"},
		{containers: []string{"app", "linkerd-proxy"}, want: "linkerd"},
		{containers: []string{"app", "kuma-sidecar"}, want: "kuma"},
		{containers: []string{"app"}, annotation: "enabled", want: "istio-ambient"},
	}
	for _, tt := range tests {
		p := readyPod("p", nil, tt.containers)
		for _, n := range tt.inits {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: n})
		}
		if tt.annotation != "" {
			annotate("ambient.istio.io/redirection", tt.annotation)(p)
		}
		if got := detectMesh(p); got != tt.want {
			t.Errorf("detectMesh(%v, init %v, ambient %q) = %q, want %q", tt.containers, tt.inits, tt.annotation, got, tt.want)
		}
	}
}
