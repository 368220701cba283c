//go:build linux

package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	yamlutil "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
)

// manifests are text/template files rendered with confData, applied in
// this order.
//
//go:embed manifests/*.yaml
var manifests embed.FS

var manifestOrder = []string{"manifests/coredns.yaml", "manifests/workloads.yaml"}

// sampleValues exposes package sample's constants to the manifests.
type sampleValues struct {
	WebPort, TCPEchoPort, UDPLoggerPort, UDPHealthPort, SidecarHealthPort int
	HealthPath                                                            string
	EnvFirst, EnvFirstValue, EnvSecond, EnvSecondValue                    string
	EnvThird, EnvThirdValue                                               string
}

var sampleDefaults = sampleValues{
	WebPort: sample.WebPort, TCPEchoPort: sample.TCPEchoPort, UDPLoggerPort: sample.UDPLoggerPort,
	UDPHealthPort: sample.UDPHealthPort, SidecarHealthPort: sample.SidecarHealthPort, HealthPath: sample.HealthPath,
	EnvFirst: sample.EnvFirst, EnvFirstValue: sample.EnvFirstValue,
	EnvSecond: sample.EnvSecond, EnvSecondValue: sample.EnvSecondValue,
	EnvThird: sample.EnvThird, EnvThirdValue: sample.EnvThirdValue,
}

const (
	fieldManager = "mirrord-e2e-cluster"
	// appliedHash marks Pods and Jobs, whose specs are immutable: when the
	// rendered object changes, the harness deletes and recreates them.
	appliedHash = "e2e.mirrord.local/applied-hash"
)

// RESTConfig returns the admin client config for this host.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", c.Kubeconfig(), err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.Timeout = 30 * time.Second
	return cfg, nil
}

func (c *Cluster) clients() (*kubernetes.Clientset, *dynamic.DynamicClient, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("clientset: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("dynamic client: %w", err)
	}
	return cs, dyn, nil
}

// waitNodeReady waits for the node's Ready condition; kubelet is the
// process whose death ends the wait early.
func (c *Cluster) waitNodeReady(ctx context.Context, kubelet *proc) error {
	cs, _, err := c.clients()
	if err != nil {
		return err
	}
	return c.poll(ctx, "node "+NodeName+" Ready", "kubelet", kubelet, func(ctx context.Context) error {
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node not Ready: %s", cond.Message)
			}
		}
		return errors.New("node has no Ready condition yet")
	})
}

// deploy applies CoreDNS and the sample workloads with server-side apply
// and waits until every one of them is Ready. After a node restart the
// Jobs are recreated: their pods (restartPolicy Never) do not survive it,
// and the Job controller would replace them only after its back-off, and
// give up after backoffLimit restarts.
func (c *Cluster) deploy(ctx context.Context, nodeRestarted bool) error {
	objs, err := c.renderManifests()
	if err != nil {
		return err
	}
	cs, dyn, err := c.clients()
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	// Namespaces first, then wait for their default ServiceAccount: a bare
	// Pod is refused until the controller manager has created it.
	var namespaces []string
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			if err := c.apply(ctx, dyn, mapper, o, false); err != nil {
				return err
			}
			namespaces = append(namespaces, o.GetName())
		}
	}
	for _, ns := range namespaces {
		err := c.poll(ctx, "ServiceAccount default in "+ns, "kube-controller-manager", nil, func(ctx context.Context) error {
			_, err := cs.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err
		})
		if err != nil {
			return err
		}
	}
	for _, o := range objs {
		if o.GetKind() != "Namespace" {
			if err := c.apply(ctx, dyn, mapper, o, nodeRestarted && o.GetKind() == "Job"); err != nil {
				return err
			}
		}
	}
	if err := c.waitWorkloads(ctx, cs, objs); err != nil {
		return err
	}
	c.Log.Info("workloads Ready", "namespace", Namespace, "at", c.since())
	return nil
}

// renderManifests renders the embedded manifests into objects.
func (c *Cluster) renderManifests() ([]*unstructured.Unstructured, error) {
	data, err := c.confData()
	if err != nil {
		return nil, err
	}
	return renderManifests(data)
}

func renderManifests(data confData) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, name := range manifestOrder {
		text, err := manifests.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", name, err)
		}
		out, err := render(name, string(text), data)
		if err != nil {
			return nil, err
		}
		docs, err := decodeObjects(out)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", name, err)
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

// decodeObjects splits a multi-document YAML stream into objects.
func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := yamlutil.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		o := &unstructured.Unstructured{Object: m}
		if o.GetKind() == "" || o.GetName() == "" {
			return nil, fmt.Errorf("document without kind or name: %v", m)
		}
		objs = append(objs, o)
	}
}

// apply server-side applies one object. Pods and Jobs are recreated when
// their rendered content changed, since their specs are immutable, and
// when recreate is set.
func (c *Cluster) apply(ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, o *unstructured.Unstructured, recreate bool) error {
	gvk := o.GroupVersionKind()
	mapping, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = dyn.Resource(mapping.Resource).Namespace(o.GetNamespace())
	}
	what := fmt.Sprintf("%s %s/%s", gvk.Kind, o.GetNamespace(), o.GetName())
	if gvk.Kind == "Pod" || gvk.Kind == "Job" {
		raw, err := o.MarshalJSON()
		if err != nil {
			return fmt.Errorf("apply %s: %w", what, err)
		}
		sum := sha256.Sum256(raw)
		hash := hex.EncodeToString(sum[:8])
		ann := o.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[appliedHash] = hash
		o.SetAnnotations(ann)
		live, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
		switch {
		case err == nil && live.GetAnnotations()[appliedHash] == hash && !recreate:
			return nil
		case err == nil:
			c.Log.Info("recreating", "object", what, "changed", live.GetAnnotations()[appliedHash] != hash)
			if err := c.deleteAndWait(ctx, ri, o.GetName()); err != nil {
				return fmt.Errorf("recreate %s: %w", what, err)
			}
		case !apierrors.IsNotFound(err):
			return fmt.Errorf("apply %s: %w", what, err)
		}
	}
	if _, err := ri.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		return fmt.Errorf("apply %s: %w", what, err)
	}
	return nil
}

func (c *Cluster) deleteAndWait(ctx context.Context, ri dynamic.ResourceInterface, name string) error {
	fg := metav1.DeletePropagationForeground
	if err := ri.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return c.poll(ctx, "deletion of "+name, "kubelet", nil, func(ctx context.Context) error {
		_, err := ri.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err == nil {
			return errors.New("still there")
		}
		return err
	})
}

// waitWorkloads waits until every Deployment, StatefulSet, Pod and Job among
// objs is Ready and rolled out; on timeout the error lists what is not and why.
func (c *Cluster) waitWorkloads(ctx context.Context, cs kubernetes.Interface, objs []*unstructured.Unstructured) error {
	return c.poll(ctx, "workloads Ready", "kubelet", nil, func(ctx context.Context) error {
		var notReady []string
		for _, o := range objs {
			msg, err := workloadNotReady(ctx, cs, o)
			if err != nil {
				return err
			}
			if msg != "" {
				notReady = append(notReady, msg)
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		reasons := podProblems(ctx, cs, objs)
		return fmt.Errorf("not ready: %s%s", strings.Join(notReady, "; "), reasons)
	})
}

// workloadNotReady returns "" when o is Ready, else a short description.
func workloadNotReady(ctx context.Context, cs kubernetes.Interface, o *unstructured.Unstructured) (string, error) {
	ns, name := o.GetNamespace(), o.GetName()
	id := strings.ToLower(o.GetKind()) + "/" + name
	switch o.GetKind() {
	case "Deployment":
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if !deploymentReady(d) {
			return fmt.Sprintf("%s %d/%d ready", id, d.Status.ReadyReplicas, replicas(d.Spec.Replicas)), nil
		}
	case "StatefulSet":
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if !statefulSetReady(s) {
			return fmt.Sprintf("%s %d/%d ready", id, s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), nil
		}
	case "Pod":
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if !podReady(p) {
			return id + " " + string(p.Status.Phase), nil
		}
	case "Job":
		j, err := cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if j.Status.Ready == nil || *j.Status.Ready < 1 {
			return id + " has no Ready pod", nil
		}
	}
	return "", nil
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func deploymentReady(d *appsv1.Deployment) bool {
	want := replicas(d.Spec.Replicas)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want &&
		s.ReadyReplicas == want && s.AvailableReplicas == want && s.Replicas == want
}

func statefulSetReady(s *appsv1.StatefulSet) bool {
	want := replicas(s.Spec.Replicas)
	st := s.Status
	return st.ObservedGeneration >= s.Generation && st.ReadyReplicas == want &&
		st.UpdatedReplicas == want && st.CurrentRevision == st.UpdateRevision
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podProblems describes why pods in the namespaces of objs are not Ready
// (container waiting reasons such as ErrImageNeverPull or CrashLoopBackOff).
func podProblems(ctx context.Context, cs kubernetes.Interface, objs []*unstructured.Unstructured) string {
	var nss []string
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" && !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	var out []string
	for _, ns := range nss {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			if podReady(&p) || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			for _, st := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
				switch {
				case st.State.Waiting != nil && st.State.Waiting.Reason != "ContainerCreating":
					out = append(out, fmt.Sprintf("%s/%s[%s]: %s %s", ns, p.Name, st.Name, st.State.Waiting.Reason, st.State.Waiting.Message))
				case st.State.Terminated != nil:
					out = append(out, fmt.Sprintf("%s/%s[%s]: exited %d %s", ns, p.Name, st.Name, st.State.Terminated.ExitCode, st.State.Terminated.Reason))
				}
			}
		}
	}
	if len(out) == 0 {
		return ""
	}
	sort.Strings(out)
	return "\n  " + strings.Join(out, "\n  ")
}
