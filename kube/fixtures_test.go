package kube

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

const testNS = "apps"

// cluster is a fake cluster: a clientset, a dynamic client and the Client
// that wraps them.
type cluster struct {
	cs  *fake.Clientset
	dyn *dynfake.FakeDynamicClient
	c   *Client
}

// newCluster builds a fake cluster holding objs (typed objects go to the
// clientset, unstructured ones to the dynamic client). With rollouts, the
// fake discovery reports the Argo Rollouts API as installed.
func newCluster(t *testing.T, rollouts bool, objs ...runtime.Object) *cluster {
	t.Helper()
	var typed, dyn []runtime.Object
	for _, o := range objs {
		if _, ok := o.(*unstructured.Unstructured); ok {
			dyn = append(dyn, o)
		} else {
			typed = append(typed, o)
		}
	}
	cs := fake.NewClientset(typed...)
	if rollouts {
		cs.Resources = []*metav1.APIResourceList{{
			GroupVersion: "argoproj.io/v1alpha1",
			APIResources: []metav1.APIResource{{Name: "rollouts", Namespaced: true, Kind: "Rollout"}},
		}}
	}
	d := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[k8sschema.GroupVersionResource]string{rolloutGVR: "RolloutList"}, dyn...)
	c := &Client{Config: &rest.Config{Host: "https://127.0.0.1:1"}, Clientset: cs, Dynamic: d, Namespace: testNS}
	return &cluster{cs: cs, dyn: d, c: c}
}

var created = metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))

// podOpt changes a test pod.
type podOpt func(*corev1.Pod)

// readyPod is a running, ready pod with the given containers (all ready).
func readyPod(name string, labels map[string]string, containers []string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: labels, CreationTimestamp: created, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "node-1"},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			PodIPs:     []corev1.PodIP{{IP: "10.0.0.7"}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "img"})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c, Ready: true, ContainerID: "containerd://id-" + name + "-" + c,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		})
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func notReady(p *corev1.Pod) {
	p.Status.Conditions[0].Status = corev1.ConditionFalse
	for i := range p.Status.ContainerStatuses {
		p.Status.ContainerStatuses[i].Ready = false
	}
}

func pending(p *corev1.Pod) {
	notReady(p)
	p.Status.Phase = corev1.PodPending
}

func olderBy(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(created.Add(-d)) }
}

func annotate(k, v string) podOpt {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func selector(l map[string]string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: l}
}

func deployment(name string, l map[string]string, available int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS},
		Spec:       appsv1.DeploymentSpec{Selector: selector(l)},
		Status:     appsv1.DeploymentStatus{AvailableReplicas: available},
	}
}

func rollout(name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": name, "namespace": testNS},
		"spec":     spec,
	}}
	return u
}

func job(name string, l map[string]string, owner *batchv1.CronJob, age time.Duration) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, CreationTimestamp: metav1.NewTime(created.Add(-age))},
		Spec:       batchv1.JobSpec{Selector: selector(l)},
	}
	if owner != nil {
		yes := true
		j.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: owner.Name, UID: owner.UID, Controller: &yes}}
	}
	return j
}
