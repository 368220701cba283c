package kube

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestListTargets(t *testing.T) {
	web := map[string]string{"app": "web"}
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "empty"}},
		readyPod("web-1", web, []string{"app"}),
		readyPod("sidecar", nil, []string{"app", "istio-proxy"}),
		readyPod("multi", nil, []string{"a", "b", "linkerd-proxy"}),
		readyPod("pending", nil, []string{"app"}, pending),
		readyPod("unready", nil, []string{"app"}, notReady),
		readyPod("mirrord-agent-abc", map[string]string{"app": "mirrord"}, []string{"mirrord-agent"}),
		readyPod("op-copy", map[string]string{"operator.metalbear.co/owner": "x"}, []string{"app"}),
		deployment("web", web, 1),
		deployment("down", web, 0),
		job("batch", web, nil, 0),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: testNS}},
		rollout("r1", map[string]any{}),
	}
	tests := []struct {
		name  string
		opts  ListOptions
		want  []string
		error string
	}{
		{name: "default types", want: []string{"pod/multi/container/a", "pod/multi/container/b", "pod/sidecar", "pod/web-1", "deployment/web", "rollout/r1"}},
		{name: "types in the order given", opts: ListOptions{Types: []string{"service", "job", "deployment"}}, want: []string{"service/web", "job/batch", "deployment/web"}},
		{name: "empty namespace", opts: ListOptions{Namespace: "empty"}, want: []string{}},
		{name: "no such namespace", opts: ListOptions{Namespace: "ghost"}, want: []string{}},
		{name: "targetless is not a type", opts: ListOptions{Types: []string{"targetless"}}, error: `target type "targetless" cannot be listed`},
		{name: "unknown type", opts: ListOptions{Types: []string{"pods"}}, error: `unknown target type "pods": use one of pod, deployment`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newCluster(t, true, objs...)
			got, err := cl.c.ListTargets(context.Background(), tt.opts)
			if tt.error != "" {
				if err == nil || !strings.Contains(err.Error(), tt.error) {
					t.Fatalf("error %v, want %q", err, tt.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			paths := []string{}
			for _, lt := range got {
				paths = append(paths, lt.Path)
				if !lt.Available {
					t.Errorf("%s is not available", lt.Path)
				}
			}
			if !slices.Equal(paths, tt.want) {
				t.Errorf("paths = %q, want %q", paths, tt.want)
			}
		})
	}
}

// Without Argo Rollouts the default listing still works and has no rollouts.
func TestListTargetsWithoutRollouts(t *testing.T) {
	cl := newCluster(t, false, readyPod("web-1", nil, []string{"app"}))
	got, err := cl.c.ListTargets(context.Background(), ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Path != "pod/web-1" {
		t.Errorf("got %v, want [pod/web-1]", got)
	}
}

func TestListNamespaces(t *testing.T) {
	cl := newCluster(t, false,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "zeta"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "alpha"}})
	got, err := cl.c.ListNamespaces(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"alpha", "zeta"}) {
		t.Errorf("namespaces = %q", got)
	}
}
