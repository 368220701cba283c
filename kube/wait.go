package kube

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
)

// podFunc sees each state of a watched pod; deleted is true when the pod is
// gone. It returns done to stop the watch, or an error to fail it.
type podFunc func(p *corev1.Pod, deleted bool) (done bool, err error)

// watchPods lists, then watches, the pods opts selects in ns, calling fn
// for each state until fn is done or fails, or ctx ends. When the watch
// ends (API server timeouts, expired resource versions) it lists again; a
// pod missing from that list counts as deleted. onTick, when set, runs
// every tickEvery in the same goroutine.
func (c *Client) watchPods(ctx context.Context, ns string, opts metav1.ListOptions, tickEvery time.Duration, onTick func(context.Context) error, fn podFunc) error {
	pods := c.Clientset.CoreV1().Pods(ns)
	var tick <-chan time.Time
	if onTick != nil {
		t := time.NewTicker(tickEvery)
		defer t.Stop()
		tick = t.C
	}
	seen := map[string]*corev1.Pod{}
	// retry pauses before the next list; it gives up on errors that
	// waiting does not fix.
	retry := func(err error) error {
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			return apiErr(err, "watching pods in namespace %s", ns)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
			return nil
		}
	}
	for {
		list, err := pods.List(ctx, opts)
		if err != nil {
			if err := retry(err); err != nil {
				return err
			}
			continue
		}
		present := map[string]bool{}
		for i := range list.Items {
			p := &list.Items[i]
			present[p.Name] = true
			seen[p.Name] = p
			if done, err := fn(p, false); done || err != nil {
				return err
			}
		}
		for name, p := range seen {
			if !present[name] {
				delete(seen, name)
				if done, err := fn(p, true); done || err != nil {
					return err
				}
			}
		}
		wopts := opts
		wopts.ResourceVersion = list.ResourceVersion
		wopts.AllowWatchBookmarks = true
		w, err := pods.Watch(ctx, wopts)
		if err != nil {
			if err := retry(err); err != nil {
				return err
			}
			continue
		}
		started := time.Now()
		done, err := consumeWatch(ctx, w, seen, tick, onTick, fn)
		w.Stop()
		if done || err != nil {
			return err
		}
		// A watch that ends at once again and again must not spin.
		if time.Since(started) < time.Second {
			if err := retry(nil); err != nil {
				return err
			}
		}
	}
}

// consumeWatch handles one watch until it ends (done=false, nil error:
// list again) or fn is done.
func consumeWatch(ctx context.Context, w watch.Interface, seen map[string]*corev1.Pod, tick <-chan time.Time, onTick func(context.Context) error, fn podFunc) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-tick:
			if err := onTick(ctx); err != nil {
				return true, err
			}
		case ev, ok := <-w.ResultChan():
			if !ok {
				return false, nil
			}
			p, isPod := ev.Object.(*corev1.Pod)
			switch {
			case ev.Type == watch.Error, ev.Type == watch.Bookmark, !isPod:
				if ev.Type == watch.Error {
					// Usually an expired resource version: list again.
					return false, nil
				}
				continue
			case ev.Type == watch.Deleted:
				delete(seen, p.Name)
				if done, err := fn(p, true); done || err != nil {
					return true, err
				}
			default:
				seen[p.Name] = p
				if done, err := fn(p, false); done || err != nil {
					return true, err
				}
			}
		}
	}
}

// fatalWaiting are container waiting reasons that do not fix themselves.
var fatalWaiting = []string{
	"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
}

// containerStarted reports whether the agent container of p runs, or why it
// never will.
func containerStarted(p *corev1.Pod, statuses []corev1.ContainerStatus, name, image string) (bool, error) {
	where := fmt.Sprintf("agent pod %s/%s", p.Namespace, p.Name)
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable {
			return false, fmt.Errorf("%w: the %s cannot be scheduled: %s", ErrAgentStartup, where, cond.Message)
		}
	}
	for i := range statuses {
		st := &statuses[i]
		if st.Name != name {
			continue
		}
		switch {
		case st.State.Running != nil:
			return true, nil
		case st.State.Terminated != nil:
			return false, fmt.Errorf("%w: the %s exited before it was ready: %s", ErrAgentStartup, where, terminated(st.State.Terminated))
		case st.State.Waiting != nil && slices.Contains(fatalWaiting, st.State.Waiting.Reason):
			hint := ""
			if strings.Contains(st.State.Waiting.Reason, "Image") {
				hint = fmt.Sprintf(" (image %s; check agent.image, agent.image_pull_policy and agent.image_pull_secrets)", image)
			}
			return false, fmt.Errorf("%w: the %s cannot start its container: %s: %s%s", ErrAgentStartup, where, st.State.Waiting.Reason, st.State.Waiting.Message, hint)
		}
	}
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return false, fmt.Errorf("%w: the %s ended (%s) before it was ready: %s", ErrAgentStartup, where, p.Status.Phase, p.Status.Message)
	}
	return false, nil
}

func terminated(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("exit code %d", t.ExitCode)
	if t.Reason != "" {
		s = t.Reason + ", " + s
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		s += ": " + oneLine(m)
	}
	return s
}

// oneLine keeps the last lines of a termination message on one line.
func oneLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return strings.Join(lines, " | ")
}

// slowNote is how often a slow agent start is reported.
const slowNote = 20 * time.Second

// waitJobPod waits for the agent Job's pod to run its container.
func (c *Client) waitJobPod(ctx context.Context, a *Agent, progress func(string)) error {
	var last *corev1.Pod
	start := time.Now()
	nextNote := slowNote
	opts := metav1.ListOptions{LabelSelector: "job-name=" + a.Job}
	onTick := func(ctx context.Context) error {
		if since := time.Since(start); since >= nextNote {
			nextNote += slowNote
			state := "no pod yet"
			if last != nil {
				state = podState(last)
			}
			progress(fmt.Sprintf("agent pod startup is taking over %s (%s)", since.Round(time.Second), state))
		}
		if last == nil {
			// No pod yet: the Job controller may be refusing to create it
			// (admission, quota, PodSecurity).
			if msg := c.events(ctx, a.Namespace, "Job", a.Job, "FailedCreate"); msg != "" {
				return fmt.Errorf("%w: the Job controller cannot create the agent pod of Job %s/%s: %s", ErrAgentStartup, a.Namespace, a.Job, msg)
			}
		}
		return nil
	}
	err := c.watchPods(ctx, a.Namespace, opts, time.Second, onTick, func(p *corev1.Pod, deleted bool) (bool, error) {
		if deleted {
			return true, fmt.Errorf("%w: the agent pod %s/%s was deleted before it was ready", ErrAgentStartup, p.Namespace, p.Name)
		}
		last, a.Pod = p, p.Name
		slog.DebugContext(ctx, "agent pod", "pod", p.Name, "node", p.Spec.NodeName, "state", podState(p), "after", time.Since(start))
		ok, err := containerStarted(p, p.Status.ContainerStatuses, AgentContainerName, imageOf(p.Spec.Containers))
		if err != nil {
			return true, c.withEvents(ctx, err, p.Namespace, p.Name)
		}
		return ok, nil
	})
	if err != nil && ctx.Err() != nil {
		if last == nil {
			err := fmt.Errorf("%w: no pod of agent Job %s/%s appeared", ErrAgentStartup, a.Namespace, a.Job)
			if ev := c.events(context.WithoutCancel(ctx), a.Namespace, "Job", a.Job, ""); ev != "" {
				err = fmt.Errorf("%w; events: %s", err, ev)
			}
			return err
		}
		return c.withEvents(ctx, fmt.Errorf("%w: the agent pod %s/%s did not start (%s)", ErrAgentStartup, last.Namespace, last.Name, podState(last)), last.Namespace, last.Name)
	}
	return err
}

// waitEphemeral waits for the ephemeral agent container to run.
func (c *Client) waitEphemeral(ctx context.Context, a *Agent) error {
	var last *corev1.Pod
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", a.Pod).String()}
	err := c.watchPods(ctx, a.Namespace, opts, 0, nil, func(p *corev1.Pod, deleted bool) (bool, error) {
		if p.Name != a.Pod {
			return false, nil
		}
		if deleted {
			return true, fmt.Errorf("%w: the target pod %s/%s was deleted while the agent container started", ErrAgentStartup, p.Namespace, p.Name)
		}
		last = p
		var image string
		for _, ec := range p.Spec.EphemeralContainers {
			if ec.Name == a.Container {
				image = ec.Image
			}
		}
		ok, err := containerStarted(p, p.Status.EphemeralContainerStatuses, a.Container, image)
		if err != nil {
			return true, c.withEvents(ctx, err, p.Namespace, p.Name)
		}
		return ok, nil
	})
	if err != nil && ctx.Err() != nil {
		state := "no status yet"
		if last != nil {
			for i := range last.Status.EphemeralContainerStatuses {
				if st := &last.Status.EphemeralContainerStatuses[i]; st.Name == a.Container {
					state = containerState(st)
				}
			}
		}
		return c.withEvents(ctx, fmt.Errorf("%w: the ephemeral agent container %s of pod %s/%s did not start (%s)", ErrAgentStartup, a.Container, a.Namespace, a.Pod, state), a.Namespace, a.Pod)
	}
	return err
}

func imageOf(cs []corev1.Container) string {
	for _, c := range cs {
		if c.Name == AgentContainerName {
			return c.Image
		}
	}
	return ""
}

// readyRE matches the agent's readiness line, plain or inside a JSON log.
var readyRE = regexp.MustCompile(`agent ready(?: - version ([^\s"]+))?`)

// waitReadyLine follows the agent container's log until it prints that it
// listens, and returns the version it reports. Following the log costs no
// connection to the agent, so the agent's first client is the real one.
func (c *Client) waitReadyLine(ctx context.Context, a *Agent) (string, error) {
	for {
		version, found, err := c.scanLog(ctx, a)
		if found || err != nil {
			return version, err
		}
		// The log ended without the line: the container exited, or the
		// kubelet closed the stream. Say which.
		pod, gerr := c.Clientset.CoreV1().Pods(a.Namespace).Get(ctx, a.Pod, metav1.GetOptions{})
		if gerr != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("%w: the agent %s/%s printed no \"agent ready\" line", ErrAgentStartup, a.Namespace, a.Pod)
			}
			return "", apiErr(gerr, "reading agent pod %s/%s", a.Namespace, a.Pod)
		}
		statuses := pod.Status.ContainerStatuses
		if a.Ephemeral {
			statuses = pod.Status.EphemeralContainerStatuses
		}
		if _, err := containerStarted(pod, statuses, a.Container, ""); err != nil {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: the agent %s/%s printed no \"agent ready\" line", ErrAgentStartup, a.Namespace, a.Pod)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Client) scanLog(ctx context.Context, a *Agent) (version string, found bool, err error) {
	req := c.Clientset.CoreV1().Pods(a.Namespace).GetLogs(a.Pod, &corev1.PodLogOptions{Container: a.Container, Follow: true})
	rc, err := req.Stream(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return "", false, fmt.Errorf("%w: the agent %s/%s printed no \"agent ready\" line", ErrAgentStartup, a.Namespace, a.Pod)
		}
		// The container may have exited already: the caller looks.
		return "", false, nil
	}
	defer rc.Close()
	stop := context.AfterFunc(ctx, func() { rc.Close() })
	defer stop()
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if m := readyRE.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], true, nil
		}
	}
	if ctx.Err() != nil {
		return "", false, fmt.Errorf("%w: the agent %s/%s printed no \"agent ready\" line", ErrAgentStartup, a.Namespace, a.Pod)
	}
	return "", false, nil
}

// withEvents appends the pod's recent warning events to err.
func (c *Client) withEvents(ctx context.Context, err error, ns, pod string) error {
	if ev := c.events(context.WithoutCancel(ctx), ns, "Pod", pod, ""); ev != "" {
		return fmt.Errorf("%w; events: %s", err, ev)
	}
	return err
}

// events summarises the last warning events of an object (only those with
// reason, when given) on one line; "" when there are none or they cannot
// be read.
func (c *Client) events(ctx context.Context, ns, kind, name, reason string) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	sel := fields.AndSelectors(fields.OneTermEqualSelector("involvedObject.name", name), fields.OneTermEqualSelector("involvedObject.kind", kind))
	list, err := c.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel.String()})
	if err != nil {
		return ""
	}
	var evs []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name && e.InvolvedObject.Kind == kind && e.Type == corev1.EventTypeWarning && (reason == "" || e.Reason == reason) {
			evs = append(evs, e)
		}
	}
	sort.Slice(evs, func(i, j int) bool { return eventTime(evs[i]).Before(eventTime(evs[j])) })
	if len(evs) > 3 {
		evs = evs[len(evs)-3:]
	}
	var parts []string
	for _, e := range evs {
		parts = append(parts, e.Reason+": "+oneLine(e.Message))
	}
	return strings.Join(parts, "; ")
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// watchGone watches the running agent until it ends, and says how.
func (c *Client) watchGone(ctx context.Context, a *Agent) error {
	var reason error
	opts := metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", a.Pod).String()}
	err := c.watchPods(ctx, a.Namespace, opts, 0, nil, func(p *corev1.Pod, deleted bool) (bool, error) {
		if p.Name != a.Pod {
			return false, nil
		}
		switch {
		case deleted && a.Ephemeral:
			reason = fmt.Errorf("the target pod %s/%s, which ran the agent, was deleted", a.Namespace, a.Pod)
		case deleted:
			reason = fmt.Errorf("the agent pod %s/%s was deleted", a.Namespace, a.Pod)
		default:
			reason = agentEnded(p, a)
		}
		return reason != nil, nil
	})
	if reason != nil {
		return reason
	}
	return err
}

// agentEnded says why the running agent stopped, or nil while it runs.
func agentEnded(p *corev1.Pod, a *Agent) error {
	statuses := p.Status.ContainerStatuses
	what := fmt.Sprintf("the agent pod %s/%s", a.Namespace, a.Pod)
	if a.Ephemeral {
		statuses = p.Status.EphemeralContainerStatuses
		what = fmt.Sprintf("the agent container %s of pod %s/%s", a.Container, a.Namespace, a.Pod)
	}
	for i := range statuses {
		if st := &statuses[i]; st.Name == a.Container && st.State.Terminated != nil {
			return fmt.Errorf("%s exited (%s)", what, terminated(st.State.Terminated))
		}
	}
	if p.DeletionTimestamp != nil && !a.Ephemeral {
		return fmt.Errorf("%s is being deleted", what)
	}
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return fmt.Errorf("%s ended (%s) %s", what, p.Status.Phase, p.Status.Message)
	}
	return nil
}
