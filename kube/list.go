package kube

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"

	"golang.org/x/sync/errgroup"

	"github.com/mirrord-go/mirrord/schema"
)

// ListOptions is what `mirrord ls` asks for.
type ListOptions struct {
	Namespace string   // empty → the client's namespace
	Types     []string // nil = upstream default set (pod, deployment, rollout)
}

// ListedTarget is one entry of `mirrord ls`.
type ListedTarget struct {
	Path      string `json:"path"`
	Available bool   `json:"available"`
}

// DefaultListTypes is what `ls` lists when no type is asked for, in
// upstream's order.
var DefaultListTypes = []string{schema.KindPod, schema.KindDeployment, schema.KindRollout}

// ListTypes are the types `ls` can list.
var ListTypes = []string{
	schema.KindPod, schema.KindDeployment, schema.KindRollout, schema.KindJob, schema.KindCronJob,
	schema.KindStatefulSet, schema.KindService, schema.KindReplicaSet,
}

// ListSelector hides mirrord's agent pods and the operator's copies. The
// daemon's informers use it too, so both listings agree.
const ListSelector = "app!=mirrord,!operator.metalbear.co/owner"

// RolloutGVR is Argo Rollouts' custom resource, for callers that watch it.
var RolloutGVR = rolloutGVR

// RolloutsInstalled asks discovery whether the cluster serves Rollouts.
func (c *Client) RolloutsInstalled() bool { return c.rolloutsInstalled() }

// listPage bounds each list call; larger namespaces are read in pages.
const listPage = 500

// CheckListTypes validates the types given to `ls`.
func CheckListTypes(types []string) error {
	for _, t := range types {
		if t == schema.KindTargetless {
			return fmt.Errorf("target type %q cannot be listed: it is not a resource; use one of %s", t, strings.Join(ListTypes, ", "))
		}
		if !slices.Contains(ListTypes, t) {
			return fmt.Errorf("unknown target type %q: use one of %s", t, strings.Join(ListTypes, ", "))
		}
	}
	return nil
}

// ListTargets lists the targets of a namespace: running, ready pods (one
// entry per container when a pod has several that are not mesh
// sidecars), deployments with an available replica, rollouts, and the
// other kinds by name. The result follows the order of the types; each
// kind is listed concurrently.
func (c *Client) ListTargets(ctx context.Context, o ListOptions) ([]ListedTarget, error) {
	types := o.Types
	if types == nil {
		types = DefaultListTypes
	}
	if err := CheckListTypes(types); err != nil {
		return nil, err
	}
	ns := o.Namespace
	if ns == "" {
		ns = c.Namespace
	}
	results := make([][]string, len(types))
	g, gctx := errgroup.WithContext(ctx)
	for i, t := range types {
		g.Go(func() error {
			paths, err := c.listKind(gctx, t, ns)
			if err != nil {
				return err
			}
			results[i] = paths
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := []ListedTarget{}
	for _, paths := range results {
		for _, p := range paths {
			out = append(out, ListedTarget{Path: p, Available: true})
		}
	}
	return out, nil
}

// ListNamespaces lists every namespace of the cluster by name.
func (c *Client) ListNamespaces(ctx context.Context) ([]string, error) {
	var names []string
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return c.Clientset.CoreV1().Namespaces().List(ctx, opts)
	})
	p.PageSize = listPage
	err := p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		m, err := meta.Accessor(obj)
		if err != nil {
			return err
		}
		names = append(names, m.GetName())
		return nil
	})
	if err != nil {
		return nil, apiErr(err, "listing namespaces")
	}
	slices.Sort(names)
	return names, nil
}

// listKind returns the target paths of one kind.
func (c *Client) listKind(ctx context.Context, kind, ns string) ([]string, error) {
	opts := metav1.ListOptions{LabelSelector: ListSelector}
	var page pager.ListPageFunc
	switch kind {
	case schema.KindPod:
		opts.FieldSelector = "status.phase=Running"
		page = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Clientset.CoreV1().Pods(ns).List(ctx, o)
		}
	case schema.KindDeployment:
		page = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Clientset.AppsV1().Deployments(ns).List(ctx, o)
		}
	case schema.KindRollout:
		if c.Dynamic == nil {
			return nil, nil
		}
		page = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Dynamic.Resource(rolloutGVR).Namespace(ns).List(ctx, o)
		}
	case schema.KindStatefulSet:
		page = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Clientset.AppsV1().StatefulSets(ns).List(ctx, o)
		}
	case schema.KindReplicaSet:
		page = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Clientset.AppsV1().ReplicaSets(ns).List(ctx, o)
		}
	case schema.KindJob:
		page = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Clientset.BatchV1().Jobs(ns).List(ctx, o)
		}
	case schema.KindCronJob:
		page = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Clientset.BatchV1().CronJobs(ns).List(ctx, o)
		}
	case schema.KindService:
		page = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return c.Clientset.CoreV1().Services(ns).List(ctx, o)
		}
	default:
		return nil, fmt.Errorf("unknown target type %q", kind)
	}
	p := pager.New(page)
	p.PageSize = listPage
	var paths []string
	err := p.EachListItem(ctx, opts, func(obj runtime.Object) error {
		if p, ok := TargetPaths(kind, obj); ok {
			paths = append(paths, p...)
		}
		return nil
	})
	if err != nil {
		if kind == schema.KindRollout && (apierrors.IsNotFound(err) || apierrors.IsForbidden(err)) {
			// No Argo Rollouts in this cluster (or not readable): nothing to list.
			slog.DebugContext(ctx, "not listing rollouts", "namespace", ns, "err", err)
			return nil, nil
		}
		return nil, apiErr(err, "listing %ss in namespace %s", kind, ns)
	}
	return paths, nil
}

// TargetPaths is how an object of a kind appears in a target list: its
// paths and whether they are available (a running, ready pod; a deployment
// with an available replica; any object of the other kinds, which are
// listed by name as upstream does). Terminating pods have no path.
func TargetPaths(kind string, obj runtime.Object) ([]string, bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		if o.DeletionTimestamp != nil {
			return nil, false
		}
		if p := podPaths(o); p != nil {
			return p, true
		}
		return containerPaths(o), false
	case *appsv1.Deployment:
		return []string{kind + "/" + o.Name}, o.Status.AvailableReplicas >= 1
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, false
	}
	return []string{kind + "/" + m.GetName()}, true
}

// podPaths is how a ready pod appears in `ls`: pod/<name>, or one
// pod/<name>/container/<c> per container when it has several that are not
// mesh sidecars.
func podPaths(p *corev1.Pod) []string {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning || !podReady(p) {
		return nil
	}
	return containerPaths(p)
}

// containerPaths is pod/<name>, or one path per container that is not a
// mesh sidecar when there are several.
func containerPaths(p *corev1.Pod) []string {
	cs := eligibleContainers(p)
	if len(cs) <= 1 {
		return []string{"pod/" + p.Name}
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = "pod/" + p.Name + "/container/" + c
	}
	return out
}
