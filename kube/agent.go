package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"golang.org/x/sync/errgroup"
)

// Agent is a running agent.
type Agent struct {
	Name, Namespace, Pod, Container string
	Port                            int
	Ephemeral                       bool
	// Job is the agent's Job; empty for an ephemeral container.
	Job string
	// Version is what the agent printed in its "agent ready" line; callers
	// compare it with their own to warn about a mismatch.
	Version string
	// Warnings are settings that were ignored, for the user to see.
	Warnings []string

	c         *Client
	gone      chan struct{}
	stopWatch context.CancelFunc
	watchDone chan struct{}
	mu        sync.Mutex
	err       error
}

// DefaultStartupTimeout applies when agent.startup_timeout is 0.
const DefaultStartupTimeout = 60 * time.Second

// ErrAgentStartup is wrapped by every CreateAgent error about the agent
// itself (not the API calls): it did not start, failed, or was too slow.
var ErrAgentStartup = errors.New("the agent did not start")

// CreateAgent creates the agent (targeted Job pinned to the target's node,
// ephemeral container, or targetless Job) and waits until it is ready,
// within agent.startup_timeout. progress receives short step messages. On
// failure it reports the pod's state and events and deletes what it
// created.
func (c *Client) CreateAgent(ctx context.Context, spec AgentSpec, progress func(string)) (_ *Agent, err error) {
	if progress == nil {
		progress = func(string) {}
	}
	if spec.Config.Ephemeral && spec.Target == nil {
		return nil, errors.New("agent.ephemeral needs a target: the agent runs as an ephemeral container of the target pod, and a targetless session has none; set a target or turn agent.ephemeral (-e) off")
	}
	if spec.Image == "" {
		return nil, errors.New("no agent image given; set agent.image")
	}
	timeout := time.Duration(spec.Config.StartupTimeout) * time.Second
	if timeout <= 0 {
		timeout = DefaultStartupTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p, err := newAgentParams(spec)
	if err != nil {
		return nil, err
	}
	a := &Agent{Name: p.name, Port: p.port, c: c, Container: AgentContainerName}
	defer func() {
		if err == nil {
			return
		}
		if errors.Is(wctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			err = fmt.Errorf("%w (agent.startup_timeout is %s: raise it, or --agent-startup-timeout, if the cluster is slow)", err, timeout)
		}
		if a.Job != "" {
			dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer dcancel()
			if derr := a.deleteJob(dctx); derr != nil {
				slog.Warn("deleting the agent Job after a failed start", "namespace", a.Namespace, "job", a.Job, "err", derr)
			}
		}
	}()
	switch {
	case spec.Config.Ephemeral:
		err = c.startEphemeral(wctx, spec, p, a, progress)
	default:
		err = c.startJob(wctx, spec, p, a, progress)
	}
	if err != nil {
		return nil, err
	}
	progress("waiting for the agent to listen")
	if a.Version, err = c.waitReadyLine(wctx, a); err != nil {
		return nil, err
	}
	a.startWatch(context.WithoutCancel(ctx))
	return a, nil
}

// startJob creates the agent Job and waits for its container to run.
func (c *Client) startJob(ctx context.Context, spec AgentSpec, p agentParams, a *Agent, progress func(string)) error {
	ns := spec.Namespace
	var place *placement
	if t := spec.Target; t != nil {
		ns = t.Namespace
		if spec.Config.Namespace != "" {
			ns = spec.Config.Namespace
		}
		var err error
		if place, err = c.placeOnNode(ctx, t.Node, spec.Config.CheckOutOfPods); err != nil {
			return err
		}
	}
	if ns == "" {
		ns = c.Namespace
	}
	if spec.Target == nil && spec.Config.Namespace != "" && spec.Config.Namespace != ns {
		// As upstream: a targetless agent runs where the session is, so that
		// its DNS and network view are that namespace's.
		a.Warnings = append(a.Warnings, fmt.Sprintf("agent.namespace %q is ignored for a targetless session: the agent runs in namespace %s (set target.namespace to change it)", spec.Config.Namespace, ns))
	}
	job, err := jobSpec(spec, p, ns, place)
	if err != nil {
		return err
	}
	a.Namespace = ns
	progress(fmt.Sprintf("creating agent Job %s in namespace %s", p.name, ns))
	if _, err := c.Clientset.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return apiErr(err, "creating agent Job %s in namespace %s", p.name, ns)
	}
	a.Job = p.name
	progress("waiting for the agent pod")
	return c.waitJobPod(ctx, a, progress)
}

// startEphemeral adds the agent to the target pod as an ephemeral container
// and waits for it to run.
func (c *Client) startEphemeral(ctx context.Context, spec AgentSpec, p agentParams, a *Agent, progress func(string)) error {
	t := spec.Target
	a.Ephemeral, a.Namespace, a.Pod, a.Container = true, t.Namespace, t.Pod.Name, p.name
	progress(fmt.Sprintf("adding ephemeral agent container %s to pod %s/%s", p.name, t.Namespace, t.Pod.Name))
	pods := c.Clientset.CoreV1().Pods(t.Namespace)
	for attempt := 0; ; attempt++ {
		pod, err := pods.Get(ctx, t.Pod.Name, metav1.GetOptions{})
		if err != nil {
			return apiErr(err, "reading target pod %s/%s", t.Namespace, t.Pod.Name)
		}
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, ephemeralSpec(spec, p))
		_, err = pods.UpdateEphemeralContainers(ctx, pod.Name, pod, metav1.UpdateOptions{})
		if err == nil {
			break
		}
		// Another client changed the pod in between: read it again.
		if apierrors.IsConflict(err) && attempt < 3 {
			continue
		}
		if apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err) {
			return fmt.Errorf("adding an ephemeral container to pod %s/%s: %w (the cluster may not allow ephemeral containers; turn agent.ephemeral off)", t.Namespace, t.Pod.Name, err)
		}
		return apiErr(err, "adding ephemeral agent container %s to pod %s/%s", p.name, t.Namespace, t.Pod.Name)
	}
	progress("waiting for the agent container")
	return c.waitEphemeral(ctx, a)
}

// placeOnNode pins the agent to node: by its kubernetes.io/hostname label
// when readable (so the scheduler still checks the node), else by name.
// With check, it first fails when the node has no room for another pod.
func (c *Client) placeOnNode(ctx context.Context, node string, check bool) (*placement, error) {
	var n *corev1.Node
	var running int
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		got, err := c.Clientset.CoreV1().Nodes().Get(gctx, node, metav1.GetOptions{})
		if err != nil {
			// Reading nodes is often not allowed to developers: fall back
			// to nodeName, as upstream does.
			slog.DebugContext(gctx, "cannot read the target's node; pinning the agent by nodeName", "node", node, "err", err)
			return nil
		}
		n = got
		return nil
	})
	if check {
		g.Go(func() error {
			sel := fields.AndSelectors(fields.OneTermEqualSelector("spec.nodeName", node), fields.OneTermEqualSelector("status.phase", string(corev1.PodRunning)))
			pods, err := c.Clientset.CoreV1().Pods("").List(gctx, metav1.ListOptions{FieldSelector: sel.String()})
			if err != nil {
				slog.DebugContext(gctx, "cannot count the pods of the target's node; skipping agent.check_out_of_pods", "node", node, "err", err)
				running = -1
				return nil
			}
			for _, p := range pods.Items {
				if p.Spec.NodeName == node && p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if n == nil {
		return &placement{nodeName: node}, nil
	}
	if check && running >= 0 {
		if max, ok := n.Status.Allocatable[corev1.ResourcePods]; ok && resource.NewQuantity(int64(running), resource.DecimalSI).Cmp(max) >= 0 {
			return nil, fmt.Errorf("%w: node %s, where the target runs, already runs %d pods, its maximum; free a pod slot, use agent.ephemeral (-e), or skip this check with agent.check_out_of_pods=false", ErrAgentStartup, node, running)
		}
	}
	if h := n.Labels[corev1.LabelHostname]; h != "" {
		return &placement{nodeSelector: map[string]string{corev1.LabelHostname: h}}, nil
	}
	return &placement{nodeName: node}, nil
}

// Delete removes the agent's Job (propagation Background); for an
// ephemeral container, which cannot be removed and exits on its own, it
// only stops watching. Idempotent.
func (a *Agent) Delete(ctx context.Context) error {
	a.stop()
	if a.Ephemeral || a.Job == "" {
		return nil
	}
	return a.deleteJob(ctx)
}

func (a *Agent) deleteJob(ctx context.Context) error {
	bg := metav1.DeletePropagationBackground
	err := a.c.Clientset.BatchV1().Jobs(a.Namespace).Delete(ctx, a.Job, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		return apiErr(err, "deleting agent Job %s/%s", a.Namespace, a.Job)
	}
	return nil
}

// Gone is closed when the agent pod is deleted or terminates, or after
// Delete. Err says why.
func (a *Agent) Gone() <-chan struct{} { return a.gone }

// Err says why Gone was closed; nil while the agent runs.
func (a *Agent) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// ErrAgentDeleted is Err after Delete.
var ErrAgentDeleted = errors.New("the agent was deleted by this session")

// startWatch starts the goroutine behind Gone; Delete stops it.
func (a *Agent) startWatch(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	a.gone = make(chan struct{})
	a.stopWatch = cancel
	a.watchDone = make(chan struct{})
	go func() {
		defer close(a.watchDone)
		err := a.c.watchGone(ctx, a)
		if ctx.Err() != nil {
			err = ErrAgentDeleted
		}
		a.mu.Lock()
		a.err = err
		a.mu.Unlock()
		close(a.gone)
	}()
}

func (a *Agent) stop() {
	if a.stopWatch == nil {
		return
	}
	a.stopWatch()
	<-a.watchDone
}
