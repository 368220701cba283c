package kube

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/agnivade/levenshtein"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/mirrord-go/mirrord/schema"
)

// rolloutGVR is Argo Rollouts' custom resource.
var rolloutGVR = k8sschema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// workloadSelector returns the pod selector of a workload.
func (c *Client) workloadSelector(ctx context.Context, kind, name, ns string) (labels.Selector, error) {
	var ls *metav1.LabelSelector
	var err error
	switch kind {
	case schema.KindDeployment:
		obj, e := c.Clientset.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			ls = obj.Spec.Selector
		}
	case schema.KindStatefulSet:
		obj, e := c.Clientset.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			ls = obj.Spec.Selector
		}
	case schema.KindReplicaSet:
		obj, e := c.Clientset.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			ls = obj.Spec.Selector
		}
	case schema.KindJob:
		obj, e := c.Clientset.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			ls = obj.Spec.Selector
		}
	case schema.KindService:
		obj, e := c.Clientset.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err = e; err == nil {
			if len(obj.Spec.Selector) == 0 {
				return nil, notReadyf("service/%s in namespace %s has no pod selector, so it names no pods; target a workload or pod instead", name, ns)
			}
			return labels.SelectorFromSet(obj.Spec.Selector), nil
		}
	case schema.KindRollout:
		return c.rolloutSelector(ctx, name, ns)
	default:
		return nil, fmt.Errorf("target kind %q is not supported", kind)
	}
	if err != nil {
		return nil, c.getErr(ctx, err, kind, name, ns)
	}
	return selectorOf(ls, kind, name, ns)
}

func selectorOf(ls *metav1.LabelSelector, kind, name, ns string) (labels.Selector, error) {
	if ls == nil || (len(ls.MatchLabels) == 0 && len(ls.MatchExpressions) == 0) {
		return nil, notReadyf("%s/%s in namespace %s has no pod selector; target one of its pods instead", kind, name, ns)
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return nil, fmt.Errorf("the pod selector of %s/%s in namespace %s is invalid: %w", kind, name, ns, err)
	}
	return sel, nil
}

// rolloutSelector reads an Argo Rollout's pod selector: its own, or that
// of the Deployment named by spec.workloadRef.
func (c *Client) rolloutSelector(ctx context.Context, name, ns string) (labels.Selector, error) {
	if c.Dynamic == nil {
		return nil, notFoundf("rollout/%s: this client cannot read Argo Rollouts (no dynamic client)", name)
	}
	obj, err := c.Dynamic.Resource(rolloutGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) && !c.rolloutsInstalled() {
			return nil, notFoundf("rollout/%s: Argo Rollouts (the rollouts.argoproj.io CRD) is not installed in this cluster; target the Deployment or a pod instead", name)
		}
		return nil, c.getErr(ctx, err, schema.KindRollout, name, ns)
	}
	if ref, ok, _ := unstructured.NestedMap(obj.Object, "spec", "workloadRef"); ok {
		kind, _ := ref["kind"].(string)
		refName, _ := ref["name"].(string)
		if kind != "Deployment" || refName == "" {
			return nil, fmt.Errorf("rollout/%s in namespace %s: spec.workloadRef names %s %q, but only a Deployment is supported", name, ns, kind, refName)
		}
		return c.workloadSelector(ctx, schema.KindDeployment, refName, ns)
	}
	raw, ok, _ := unstructured.NestedMap(obj.Object, "spec", "selector")
	if !ok {
		return nil, notReadyf("rollout/%s in namespace %s has neither spec.selector nor spec.workloadRef", name, ns)
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &ls); err != nil {
		return nil, fmt.Errorf("reading the selector of rollout/%s in namespace %s: %w", name, ns, err)
	}
	return selectorOf(&ls, schema.KindRollout, name, ns)
}

// rolloutsInstalled asks discovery whether the Rollout resource exists.
// When discovery itself fails it answers true, so that the caller reports
// the plain not-found error rather than a wrong guess.
func (c *Client) rolloutsInstalled() bool {
	rl, err := c.Clientset.Discovery().ServerResourcesForGroupVersion(rolloutGVR.GroupVersion().String())
	if err != nil {
		return !apierrors.IsNotFound(err)
	}
	for _, r := range rl.APIResources {
		if r.Name == rolloutGVR.Resource {
			return true
		}
	}
	return false
}

// cronJobPod finds a running pod of the CronJob's latest Job.
func (c *Client) cronJobPod(ctx context.Context, name, ns string) (*corev1.Pod, []string, error) {
	cj, err := c.Clientset.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, c.getErr(ctx, err, schema.KindCronJob, name, ns)
	}
	jobs, err := c.Clientset.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, apiErr(err, "listing the Jobs of cronjob/%s in namespace %s", name, ns)
	}
	var owned []*batchv1.Job
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == "CronJob" && (ref.UID == cj.UID || (cj.UID == "" && ref.Name == name)) {
			owned = append(owned, j)
		}
	}
	if len(owned) == 0 {
		return nil, nil, notReadyf("cronjob/%s in namespace %s has no Job yet (it has not run); start one with 'kubectl create job -n %s --from=cronjob/%s <job-name>' or target a running Job", name, ns, ns, name)
	}
	sort.Slice(owned, func(i, j int) bool {
		ti, tj := owned[i].CreationTimestamp, owned[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return tj.Before(&ti)
		}
		return owned[i].Name > owned[j].Name
	})
	latest := owned[0]
	sel, err := selectorOf(latest.Spec.Selector, schema.KindJob, latest.Name, ns)
	if err != nil {
		return nil, nil, err
	}
	pod, warnings, err := c.readyPod(ctx, ns, sel, "job/"+latest.Name+" (the latest Job of cronjob/"+name+")")
	if err != nil {
		return nil, nil, err
	}
	return pod, warnings, nil
}

// getErr turns a failed Get of a target object into a one-line message:
// what was not found, where, a close name when there is one, and how to
// list the targets.
func (c *Client) getErr(ctx context.Context, err error, kind, name, ns string) error {
	if !apierrors.IsNotFound(err) {
		return apiErr(err, "reading %s/%s in namespace %s", kind, name, ns)
	}
	if _, nsErr := c.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(nsErr) {
		return notFoundf("namespace %q does not exist (looking for %s/%s); set target.namespace (or -n) to an existing namespace", ns, kind, name)
	}
	msg := fmt.Sprintf("%s/%s not found in namespace %s", kind, name, ns)
	if best := closest(name, c.names(ctx, kind, ns)); best != "" {
		msg += fmt.Sprintf("; did you mean %s/%s?", kind, best)
	}
	return notFoundf("%s; list the targets with 'mirrord ls -n %s'", msg, ns)
}

// names lists the names of one kind in ns, for suggestions; errors mean no
// suggestions.
func (c *Client) names(ctx context.Context, kind, ns string) []string {
	opts := metav1.ListOptions{Limit: 500}
	listers := map[string]func() (runtime.Object, error){
		schema.KindPod:         func() (runtime.Object, error) { return c.Clientset.CoreV1().Pods(ns).List(ctx, opts) },
		schema.KindDeployment:  func() (runtime.Object, error) { return c.Clientset.AppsV1().Deployments(ns).List(ctx, opts) },
		schema.KindStatefulSet: func() (runtime.Object, error) { return c.Clientset.AppsV1().StatefulSets(ns).List(ctx, opts) },
		schema.KindReplicaSet:  func() (runtime.Object, error) { return c.Clientset.AppsV1().ReplicaSets(ns).List(ctx, opts) },
		schema.KindJob:         func() (runtime.Object, error) { return c.Clientset.BatchV1().Jobs(ns).List(ctx, opts) },
		schema.KindCronJob:     func() (runtime.Object, error) { return c.Clientset.BatchV1().CronJobs(ns).List(ctx, opts) },
		schema.KindService:     func() (runtime.Object, error) { return c.Clientset.CoreV1().Services(ns).List(ctx, opts) },
	}
	if c.Dynamic != nil {
		listers[schema.KindRollout] = func() (runtime.Object, error) {
			return c.Dynamic.Resource(rolloutGVR).Namespace(ns).List(ctx, opts)
		}
	}
	list, ok := listers[kind]
	if !ok {
		return nil
	}
	obj, err := list()
	if err != nil {
		return nil
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return nil
	}
	var names []string
	for _, it := range items {
		if m, err := meta.Accessor(it); err == nil {
			names = append(names, m.GetName())
		}
	}
	return names
}

// closest returns the candidate nearest to s, or "" when none is close
// enough to be a likely typo. A candidate that s is a prefix of ("web" for
// "web-7d9f6") counts as close.
func closest(s string, candidates []string) string {
	sorted := slices.Clone(candidates)
	slices.Sort(sorted)
	best, bestD := "", len(s)/3+2
	for _, c := range sorted {
		if d := levenshtein.ComputeDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		for _, c := range sorted {
			if strings.HasPrefix(c, s) {
				return c
			}
		}
	}
	return best
}
