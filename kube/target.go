package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/mirrord-go/mirrord/schema"
)

// Target is a resolved target: one running, ready pod and container.
type Target struct {
	Path        string // as given, e.g. "deploy/web"
	Namespace   string
	Pod         *corev1.Pod
	Container   string // the chosen container
	ContainerID string // without the runtime:// prefix
	Runtime     string // containerd | cri-o | docker
	Node        string

	// Mesh is the service mesh detected from the pod's containers and
	// annotations: "istio", "istio-cni", "istio-ambient", "linkerd", "kuma",
	// or "" for none.
	Mesh string
	// Warnings are things the user should know about the choice made
	// (several pods or containers to pick from, a Telepresence agent, ...).
	Warnings []string
}

// String names the target's pod and container, for messages.
func (t *Target) String() string {
	return fmt.Sprintf("pod/%s/container/%s in namespace %s", t.Pod.Name, t.Container, t.Namespace)
}

// ErrTargetNotFound is wrapped by every error that says the target (its
// workload, pod, container or namespace) does not exist.
var ErrTargetNotFound = errors.New("target not found")

// ErrTargetNotReady is wrapped by errors that say the target exists but has
// no running, ready pod or container to attach to.
var ErrTargetNotReady = errors.New("target not ready")

// targetError is a one-line message that matches one of the sentinels
// above with errors.Is, without repeating the sentinel's text.
type targetError struct {
	kind error
	msg  string
}

func (e *targetError) Error() string        { return e.msg }
func (e *targetError) Is(target error) bool { return target == e.kind }

func notFoundf(format string, a ...any) error {
	return &targetError{kind: ErrTargetNotFound, msg: fmt.Sprintf(format, a...)}
}

func notReadyf(format string, a ...any) error {
	return &targetError{kind: ErrTargetNotReady, msg: fmt.Sprintf(format, a...)}
}

// meshContainers are sidecars and init containers of service meshes and
// similar injectors; mirrord never picks them unless named explicitly.
var meshContainers = []string{
	"istio-proxy", "istio-init", "linkerd-proxy", "linkerd-init", "kuma-sidecar", "kuma-init",
	"vault-agent", "vault-agent-init", "queue-proxy", "traffic-agent",
}

// defaultContainerAnnotation is kubectl's way of naming a pod's main container.
const defaultContainerAnnotation = "kubectl.kubernetes.io/default-container"

// agentLabel marks mirrord's own agent pods, which are never targets.
const (
	agentLabelKey   = "app"
	agentLabelValue = "mirrord"
)

// ResolveTarget resolves a target path ("" or "targetless" → nil, nil) in
// namespace (empty → c.Namespace) to one running, ready pod and container.
func (c *Client) ResolveTarget(ctx context.Context, path, namespace string) (*Target, error) {
	if path == "" || path == schema.KindTargetless {
		return nil, nil
	}
	tp, err := schema.ParseTarget(path)
	if err != nil {
		return nil, err
	}
	if namespace == "" {
		namespace = c.Namespace
	}
	pod, warnings, err := c.podFor(ctx, tp, namespace)
	if err != nil {
		return nil, err
	}
	t, err := targetFromPod(pod, tp.Container)
	if err != nil {
		return nil, err
	}
	t.Path = path
	t.Warnings = append(warnings, t.Warnings...)
	return t, nil
}

// podFor finds the pod a target path stands for.
func (c *Client) podFor(ctx context.Context, tp *schema.TargetPath, ns string) (*corev1.Pod, []string, error) {
	what := tp.Kind + "/" + tp.Name
	var sel labels.Selector
	switch tp.Kind {
	case schema.KindPod:
		pod, err := c.Clientset.CoreV1().Pods(ns).Get(ctx, tp.Name, metav1.GetOptions{})
		if err != nil {
			return nil, nil, c.getErr(ctx, err, tp.Kind, tp.Name, ns)
		}
		return pod, nil, nil
	case schema.KindLabel:
		what = (&schema.TargetPath{Kind: schema.KindLabel, Labels: tp.Labels}).String()
		sel = labels.SelectorFromSet(tp.Labels)
	case schema.KindCronJob:
		return c.cronJobPod(ctx, tp.Name, ns)
	default:
		s, err := c.workloadSelector(ctx, tp.Kind, tp.Name, ns)
		if err != nil {
			return nil, nil, err
		}
		sel = s
	}
	return c.readyPod(ctx, ns, sel, what)
}

// readyPod picks the oldest running, ready pod matching sel; agent pods
// never count. Picking one of several is reported as a warning.
func (c *Client) readyPod(ctx context.Context, ns string, sel labels.Selector, what string) (*corev1.Pod, []string, error) {
	notAgent, err := labels.NewRequirement(agentLabelKey, selection.NotEquals, []string{agentLabelValue})
	if err != nil {
		return nil, nil, fmt.Errorf("building the agent-pod filter: %w", err)
	}
	list, err := c.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.Add(*notAgent).String()})
	if err != nil {
		return nil, nil, apiErr(err, "listing the pods of %s in namespace %s", what, ns)
	}
	if len(list.Items) == 0 {
		if strings.HasPrefix(what, "label/") {
			return nil, nil, notFoundf("no pod matches %s in namespace %s; check the labels with 'kubectl get pods -n %s --show-labels'", what, ns, ns)
		}
		return nil, nil, notReadyf("%s in namespace %s has no pods (is it scaled to zero?); pick another target with 'mirrord ls -n %s'", what, ns, ns)
	}
	var ready []*corev1.Pod
	var states []string
	for i := range list.Items {
		p := &list.Items[i]
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
			ready = append(ready, p)
			continue
		}
		states = append(states, p.Name+" "+podState(p))
	}
	if len(ready) == 0 {
		sort.Strings(states)
		return nil, nil, notReadyf("%s in namespace %s has no running, ready pod (%s); wait for it or check 'kubectl describe pods -n %s -l %s'",
			what, ns, strings.Join(states, ", "), ns, sel.String())
	}
	sort.Slice(ready, func(i, j int) bool {
		ti, tj := ready[i].CreationTimestamp, ready[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return ready[i].Name < ready[j].Name
	})
	var warnings []string
	if len(ready) > 1 {
		warnings = append(warnings, fmt.Sprintf("%s has %d ready pods; mirrord uses pod/%s, so traffic to the other pods is not seen", what, len(ready), ready[0].Name))
	}
	return ready[0], warnings, nil
}

// targetFromPod checks that the pod can be a target and picks the container.
func targetFromPod(pod *corev1.Pod, container string) (*Target, error) {
	where := fmt.Sprintf("pod %s/%s", pod.Namespace, pod.Name)
	switch {
	case pod.DeletionTimestamp != nil:
		return nil, notReadyf("%s is being deleted; target its workload (e.g. deploy/<name>) to follow the replacement pod", where)
	case pod.Status.Phase != corev1.PodRunning:
		return nil, notReadyf("%s is not running (%s); wait for it or pick another target with 'mirrord ls -n %s'", where, podState(pod), pod.Namespace)
	case pod.Spec.NodeName == "":
		return nil, notReadyf("%s is not scheduled on a node yet", where)
	}
	t := &Target{Namespace: pod.Namespace, Pod: pod, Node: pod.Spec.NodeName, Mesh: detectMesh(pod)}
	name, warning, err := chooseContainer(pod, container)
	if err != nil {
		return nil, err
	}
	t.Container = name
	if warning != "" {
		t.Warnings = append(t.Warnings, warning)
	}
	if name == "traffic-agent" || hasContainer(pod, "traffic-agent") {
		t.Warnings = append(t.Warnings, fmt.Sprintf("%s runs a Telepresence traffic-agent, which may take the traffic before mirrord sees it", where))
	}
	var st *corev1.ContainerStatus
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == name {
			st = &pod.Status.ContainerStatuses[i]
		}
	}
	if st == nil || !st.Ready {
		state := "no status yet"
		if st != nil {
			state = containerState(st)
		}
		return nil, notReadyf("container %s of %s is not ready (%s); wait for it or check 'kubectl describe pod -n %s %s'", name, where, state, pod.Namespace, pod.Name)
	}
	rt, id, ok := strings.Cut(st.ContainerID, "://")
	if !ok || id == "" {
		return nil, notReadyf("container %s of %s has no container ID yet", name, where)
	}
	t.Runtime, t.ContainerID = rt, id
	return t, nil
}

// chooseContainer applies upstream's order: the container asked for, the
// kubectl default-container annotation, then the first container that is
// not a mesh sidecar.
func chooseContainer(pod *corev1.Pod, want string) (name, warning string, err error) {
	names := make([]string, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		names[i] = c.Name
	}
	if want != "" {
		if !slices.Contains(names, want) {
			return "", "", notFoundf("container %q not found in pod %s/%s (its containers: %s)", want, pod.Namespace, pod.Name, strings.Join(names, ", "))
		}
		return want, "", nil
	}
	if a := pod.Annotations[defaultContainerAnnotation]; a != "" && slices.Contains(names, a) {
		return a, "", nil
	}
	var eligible []string
	for _, n := range names {
		if !slices.Contains(meshContainers, n) {
			eligible = append(eligible, n)
		}
	}
	if len(eligible) == 0 {
		if len(names) == 0 {
			return "", "", notReadyf("pod %s/%s has no containers", pod.Namespace, pod.Name)
		}
		eligible = names
	}
	if len(eligible) > 1 {
		warning = fmt.Sprintf("pod %s/%s has several containers (%s); mirrord picked %s: add /container/<name> to the target to choose", pod.Namespace, pod.Name, strings.Join(eligible, ", "), eligible[0])
	}
	return eligible[0], warning, nil
}

// eligibleContainers are the containers `ls` lists: all but mesh sidecars.
func eligibleContainers(pod *corev1.Pod) []string {
	var out []string
	for _, c := range pod.Spec.Containers {
		if !slices.Contains(meshContainers, c.Name) {
			out = append(out, c.Name)
		}
	}
	return out
}

func hasContainer(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// detectMesh follows upstream: the ambient annotation, then the container
// names of the known meshes.
func detectMesh(pod *corev1.Pod) string {
	if pod.Annotations["ambient.istio.io/redirection"] == "enabled" {
		return "istio-ambient"
	}
	all := slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers)
	if hasNamed(all, "istio-proxy") && hasNamed(all, "istio-validation") {
		return "istio-cni"
	}
	for _, c := range all {
		switch {
		case strings.HasPrefix(c.Name, "istio-"):
			return "istio"
		case strings.HasPrefix(c.Name, "linkerd-"):
			return "linkerd"
		case strings.HasPrefix(c.Name, "kuma-"):
			return "kuma"
		}
	}
	return ""
}

func hasNamed(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podState is a short description of why a pod is not usable.
func podState(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "terminating"
	}
	s := string(p.Status.Phase)
	if s == "" {
		s = "Pending"
	}
	if p.Status.Reason != "" {
		s += ": " + p.Status.Reason
	}
	var cs []string
	for i := range p.Status.ContainerStatuses {
		st := &p.Status.ContainerStatuses[i]
		if !st.Ready {
			cs = append(cs, st.Name+" "+containerState(st))
		}
	}
	if len(cs) > 0 {
		s += ", " + strings.Join(cs, ", ")
	} else if p.Status.Phase == corev1.PodRunning && !podReady(p) {
		s += ", not Ready"
	}
	return s
}

func containerState(st *corev1.ContainerStatus) string {
	switch {
	case st.State.Waiting != nil:
		return "waiting: " + st.State.Waiting.Reason
	case st.State.Terminated != nil:
		return fmt.Sprintf("terminated: %s, exit code %d", st.State.Terminated.Reason, st.State.Terminated.ExitCode)
	case st.State.Running != nil && !st.Ready:
		return "running, not ready"
	case st.State.Running != nil:
		return "running"
	}
	return "unknown state"
}

// apiErr wraps an API error with what was being done; a Forbidden error
// also says which permission is missing.
func apiErr(err error, format string, a ...any) error {
	what := fmt.Sprintf(format, a...)
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("%s: permission denied; ask your cluster admin for that permission: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
