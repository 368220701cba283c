package kube

import (
	"context"
	"encoding/hex"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"

	"github.com/mirrord-go/mirrord/schema"
)

func testTarget() *Target {
	p := readyPod("web-1", map[string]string{"app": "web"}, []string{"app"})
	return &Target{Path: "pod/web-1", Namespace: testNS, Pod: p, Container: "app", ContainerID: "abc123", Runtime: "containerd", Node: "node-1"}
}

func testSpec(t *Target) AgentSpec {
	cfg := schema.Default().Agent
	return AgentSpec{Config: cfg, Target: t, Namespace: testNS, Image: "ghcr.io/mirrord-go/mirrord-agent:1.0.0", TokenHash: [32]byte{1, 2, 3}, CommunicationTimeout: 30 * time.Second}
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		m[e.Name] = e.Value
	}
	return m
}

func TestJobSpecTargeted(t *testing.T) {
	spec := testSpec(testTarget())
	one := 1
	spec.Config.DNS.Timeout = &one
	spec.Config.DisabledCapabilities = []string{"CAP_NET_RAW"}
	spec.Config.ImagePullSecrets = []map[string]string{{"name": "regcred"}}
	spec.Config.ServiceAccount = "agent-sa"
	spec.Config.PriorityClass = "high"
	spec.Config.Labels = map[string]string{"team": "dev"}
	spec.Config.Annotations = map[string]string{"note": "x"}
	spec.Config.NodeSelector = map[string]string{"pool": "a"}
	spec.Config.SecurityContext = &schema.SecurityContext{SeccompProfile: &schema.SecurityProfile{Type: "Localhost", LocalhostProfile: "agent.json"}}
	p := agentParams{name: "mirrord-agent-abcdefghij", port: 40000, gid: 4000}
	job, err := jobSpec(spec, p, "agents", &placement{nodeSelector: map[string]string{corev1.LabelHostname: "node-1"}})
	if err != nil {
		t.Fatal(err)
	}
	ps := job.Spec.Template.Spec
	c := ps.Containers[0]
	checks := []struct {
		what      string
		got, want any
	}{
		{"namespace", job.Namespace, "agents"},
		{"backoffLimit", *job.Spec.BackoffLimit, int32(0)},
		{"ttl", *job.Spec.TTLSecondsAfterFinished, int32(1)},
		{"restartPolicy", ps.RestartPolicy, corev1.RestartPolicyNever},
		{"hostPID", ps.HostPID, true},
		{"hostNetwork", ps.HostNetwork, false},
		{"container name", c.Name, "mirrord-agent"},
		{"image", c.Image, spec.Image},
		{"pull policy", c.ImagePullPolicy, corev1.PullIfNotPresent},
		{"args", strings.Join(c.Args, " "), "-l 40000 -t 30 targeted --container-id abc123 --container-runtime containerd"},
		{"capabilities", c.SecurityContext.Capabilities.Add, []corev1.Capability{"SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN"}},
		{"privileged", *c.SecurityContext.Privileged, false},
		{"runAsGroup", *c.SecurityContext.RunAsGroup, int64(4000)},
		{"seccomp", *c.SecurityContext.SeccompProfile.LocalhostProfile, "agent.json"},
		{"volumes", len(ps.Volumes), 2},
		{"mounts", c.VolumeMounts[0].MountPath + " " + c.VolumeMounts[1].MountPath, "/host/run /host/var"},
		{"hostPath", ps.Volumes[0].HostPath.Path + " " + ps.Volumes[1].HostPath.Path, "/run /var"},
		{"tolerations", ps.Tolerations, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{"cpu limit", c.Resources.Limits.Cpu().String(), "1"},
		{"memory request", c.Resources.Requests.Memory().String(), "1Mi"},
		{"node selector", ps.NodeSelector, map[string]string{corev1.LabelHostname: "node-1", "pool": "a"}},
		{"node name", ps.NodeName, ""},
		{"pull secrets", ps.ImagePullSecrets, []corev1.LocalObjectReference{{Name: "regcred"}}},
		{"service account", ps.ServiceAccountName, "agent-sa"},
		{"priority class", ps.PriorityClassName, "high"},
		{"job labels", job.Labels, map[string]string{"app": "mirrord", "team": "dev", "kuma.io/sidecar-injection": "disabled"}},
		{"pod labels", job.Spec.Template.Labels["app"], "mirrord"},
		{"annotations", job.Spec.Template.Annotations, map[string]string{"note": "x", "sidecar.istio.io/inject": "false", "linkerd.io/inject": "disabled"}},
		{"token", envOf(c)["MIRRORD_AGENT_TOKEN_SHA256"], hex.EncodeToString(spec.TokenHash[:])},
		{"log level", envOf(c)["MIRRORD_AGENT_LOG_LEVEL"], "info"},
		{"json log", envOf(c)["MIRRORD_AGENT_JSON_LOG"], "false"},
		{"dns timeout", envOf(c)["MIRRORD_AGENT_DNS_TIMEOUT"], "1"},
		{"pod ips", envOf(c)["MIRRORD_AGENT_POD_IPS"], "10.0.0.7"},
		{"termination message", c.TerminationMessagePolicy, corev1.TerminationMessageFallbackToLogsOnError},
	}
	for _, ck := range checks {
		if !equal(ck.got, ck.want) {
			t.Errorf("%s = %v, want %v", ck.what, ck.got, ck.want)
		}
	}
	if _, ok := envOf(c)["MIRRORD_AGENT_DNS_ATTEMPTS"]; ok {
		t.Error("MIRRORD_AGENT_DNS_ATTEMPTS set although agent.dns.attempts is unset")
	}
}

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }

func TestJobSpecTargetless(t *testing.T) {
	spec := testSpec(nil)
	spec.Config.Privileged = true
	spec.Config.Tolerations = nil
	spec.CommunicationTimeout = 1500 * time.Millisecond
	job, err := jobSpec(spec, agentParams{name: "mirrord-agent-x", port: 31000, gid: 3000}, testNS, nil)
	if err != nil {
		t.Fatal(err)
	}
	ps := job.Spec.Template.Spec
	c := ps.Containers[0]
	if ps.HostPID || len(ps.Volumes) != 0 || c.SecurityContext.Capabilities != nil || c.SecurityContext.Privileged != nil {
		t.Errorf("targetless agent has privileges: hostPID %v volumes %d security %+v", ps.HostPID, len(ps.Volumes), c.SecurityContext)
	}
	if got := strings.Join(c.Args, " "); got != "-l 31000 -t 2 targetless" {
		t.Errorf("args = %q", got)
	}
	if ps.NodeName != "" || ps.NodeSelector != nil || ps.Tolerations != nil {
		t.Errorf("targetless agent is placed: %q %v %v", ps.NodeName, ps.NodeSelector, ps.Tolerations)
	}
}

func TestEphemeralSpec(t *testing.T) {
	tg := testTarget()
	share := true
	tg.Pod.Spec.ShareProcessNamespace = &share
	spec := testSpec(tg)
	spec.Config.Ephemeral = true
	ec := ephemeralSpec(spec, agentParams{name: "mirrord-agent-e", port: 32000, gid: 3001})
	if ec.TargetContainerName != "app" || ec.Name != "mirrord-agent-e" {
		t.Errorf("target %q name %q", ec.TargetContainerName, ec.Name)
	}
	if got := strings.Join(ec.Args, " "); got != "-l 32000 -t 30 ephemeral" {
		t.Errorf("args = %q", got)
	}
	if caps := ec.SecurityContext.Capabilities.Add; len(caps) != 4 {
		t.Errorf("capabilities = %v", caps)
	}
	if envOf(corev1.Container{Env: ec.Env})["MIRRORD_AGENT_EPHEMERAL_TARGET_CONTAINER_ID"] != "abc123" {
		t.Error("shared process namespace: target container id not passed")
	}
}

func TestResourcesErrorNamesKey(t *testing.T) {
	_, err := resources(schema.ResourceRequirements{Limits: map[string]schema.Quantity{"memory": "lots"}})
	if err == nil || !strings.Contains(err.Error(), "agent.resources.limits.memory") {
		t.Errorf("error %v does not name agent.resources.limits.memory", err)
	}
}

func TestAgentParams(t *testing.T) {
	for range 50 {
		p, err := newAgentParams(AgentSpec{})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^mirrord-agent-[a-z0-9]{10}$`).MatchString(p.name) || p.port < 30000 || p.port > 65535 || p.gid < 3000 || p.gid > 65534 {
			t.Fatalf("params %+v out of range", p)
		}
	}
	if p, _ := newAgentParams(AgentSpec{Port: 1234}); p.port != 1234 {
		t.Errorf("port %d, want the given 1234", p.port)
	}
}

func TestPlacement(t *testing.T) {
	node := func(labels map[string]string, maxPods int64) *corev1.Node {
		return &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: "node-1", Labels: labels},
			Status:     corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourcePods: *resource.NewQuantity(maxPods, resource.DecimalSI)}},
		}
	}
	tests := []struct {
		name    string
		objs    []runtime.Object
		check   bool
		want    placement
		wantErr string
	}{
		{name: "hostname label", objs: []runtime.Object{node(map[string]string{corev1.LabelHostname: "host-1"}, 10)},
			want: placement{nodeSelector: map[string]string{corev1.LabelHostname: "host-1"}}},
		{name: "no label", objs: []runtime.Object{node(nil, 10)}, want: placement{nodeName: "node-1"}},
		{name: "node not readable", want: placement{nodeName: "node-1"}},
		{name: "node full", check: true, objs: []runtime.Object{node(nil, 2), readyPod("a", nil, []string{"c"}), readyPod("b", nil, []string{"c"})},
			wantErr: "node node-1, where the target runs, already runs 2 pods, its maximum"},
		{name: "node with room", check: true, objs: []runtime.Object{node(nil, 3), readyPod("a", nil, []string{"c"}), readyPod("b", nil, []string{"c"})},
			want: placement{nodeName: "node-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newCluster(t, false, tt.objs...)
			got, err := cl.c.placeOnNode(context.Background(), "node-1", tt.check)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "agent.check_out_of_pods") {
					t.Fatalf("error %v, want %q naming agent.check_out_of_pods", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equal(*got, tt.want) {
				t.Errorf("placement %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// agentCluster is a fake cluster whose "Job controller" creates the agent
// pod in the state podState gives, and whose agent logs logLine.
type agentCluster struct {
	*cluster
	watches chan struct{}
	mu      sync.Mutex
	jobs    []*batchv1.Job
}

func newAgentCluster(t *testing.T, logs string, podState func(*corev1.Pod), objs ...runtime.Object) *agentCluster {
	ac := &agentCluster{cluster: newCluster(t, false, objs...), watches: make(chan struct{}, 100)}
	cs := ac.cs
	cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		job := a.(k8stesting.CreateAction).GetObject().(*batchv1.Job)
		ac.mu.Lock()
		ac.jobs = append(ac.jobs, job)
		ac.mu.Unlock()
		if podState == nil {
			return false, nil, nil
		}
		labels := map[string]string{"job-name": job.Name}
		for k, v := range job.Spec.Template.Labels {
			labels[k] = v
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-pod", Namespace: job.Namespace, Labels: labels},
			Spec:       job.Spec.Template.Spec,
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
				Name: AgentContainerName, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			}}},
		}
		podState(pod)
		if err := cs.Tracker().Add(pod); err != nil {
			return true, nil, err
		}
		return false, nil, nil
	})
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "log" {
			return true, &runtime.Unknown{Raw: []byte(logs)}, nil
		}
		return false, nil, nil
	})
	cs.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := cs.Tracker().Watch(a.GetResource(), a.GetNamespace())
		ac.watches <- struct{}{}
		return true, w, err
	})
	return ac
}

func running(*corev1.Pod) {}

func (ac *agentCluster) jobExists(t *testing.T, ns, name string) bool {
	t.Helper()
	_, err := ac.cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	return err == nil
}

func TestCreateAgentTargeted(t *testing.T) {
	ac := newAgentCluster(t, "starting\nagent ready - version 9.9.9\n", running)
	var steps []string
	spec := testSpec(testTarget())
	spec.Config.Namespace = "agents"
	a, err := ac.c.CreateAgent(context.Background(), spec, func(s string) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Delete(context.Background()) })
	if a.Namespace != "agents" || a.Job != a.Name || a.Pod != a.Name+"-pod" || a.Version != "9.9.9" || a.Ephemeral || a.Container != AgentContainerName {
		t.Errorf("agent = %+v", a)
	}
	if len(steps) != 3 || !strings.HasPrefix(steps[0], "creating agent Job mirrord-agent-") || steps[1] != "waiting for the agent pod" {
		t.Errorf("progress = %q", steps)
	}
	// Gone: deleting the pod closes it with a reason naming the pod.
	<-ac.watches
	if err := ac.cs.CoreV1().Pods("agents").Delete(context.Background(), a.Pod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Gone():
	case <-time.After(5 * time.Second):
		t.Fatal("Gone not closed after the agent pod was deleted")
	}
	if want := "the agent pod agents/" + a.Pod + " was deleted"; a.Err() == nil || a.Err().Error() != want {
		t.Errorf("Err = %v, want %q", a.Err(), want)
	}
	for range 2 {
		if err := a.Delete(context.Background()); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if ac.jobExists(t, "agents", a.Job) {
		t.Error("the agent Job still exists after Delete")
	}
}

func TestCreateAgentGoneOnExit(t *testing.T) {
	ac := newAgentCluster(t, "agent ready - version 1\n", running)
	spec := testSpec(nil)
	spec.Config.Namespace = "elsewhere"
	a, err := ac.c.CreateAgent(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Delete(context.Background()) })
	if a.Namespace != testNS || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], `agent.namespace "elsewhere" is ignored for a targetless session`) {
		t.Errorf("targetless agent in %s with warnings %q", a.Namespace, a.Warnings)
	}
	<-ac.watches
	pod, err := ac.cs.CoreV1().Pods(testNS).Get(context.Background(), a.Pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	if _, err := ac.cs.CoreV1().Pods(testNS).UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Gone():
	case <-time.After(5 * time.Second):
		t.Fatal("Gone not closed after the agent exited")
	}
	if a.Err() == nil || !strings.Contains(a.Err().Error(), "exited (Completed, exit code 0)") {
		t.Errorf("Err = %v", a.Err())
	}
}

func TestCreateAgentFailures(t *testing.T) {
	pullErr := func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "manifest unknown"}}
	}
	creating := func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	}
	unschedulable := func(p *corev1.Pod) {
		p.Status.Phase = corev1.PodPending
		p.Status.ContainerStatuses = nil
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}}
	}
	crashed := func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", Message: "usage error\nbad flag -x"}}
	}
	event := func(kind, name, reason, msg string) *corev1.Event {
		return &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: name + "." + reason, Namespace: testNS},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Name: name, Namespace: testNS},
			Type:           corev1.EventTypeWarning, Reason: reason, Message: msg,
		}
	}
	tests := []struct {
		name     string
		logs     string
		state    func(*corev1.Pod)
		events   func(agent string) []runtime.Object
		timeout  int
		ephem    bool
		want     []string
		maxTakes time.Duration
	}{
		{name: "image pull", state: pullErr, logs: "",
			events: func(a string) []runtime.Object {
				return []runtime.Object{event("Pod", a+"-pod", "Failed", "Failed to pull image: not found")}
			},
			want: []string{"cannot start its container: ErrImagePull: manifest unknown", "check agent.image", "events: Failed: Failed to pull image: not found"}, maxTakes: 5 * time.Second},
		{name: "unschedulable", state: unschedulable, want: []string{"cannot be scheduled: 0/1 nodes are available: 1 Insufficient cpu."}, maxTakes: 5 * time.Second},
		{name: "exits at start", state: crashed, want: []string{"exited before it was ready: Error, exit code 2: usage error | bad flag -x"}, maxTakes: 5 * time.Second},
		{name: "startup timeout", state: creating, timeout: 1, want: []string{"did not start (Pending", "ContainerCreating", "agent.startup_timeout is 1s"}, maxTakes: 5 * time.Second},
		{name: "job cannot create pods", timeout: 10,
			events: func(a string) []runtime.Object {
				return []runtime.Object{event("Job", a, "FailedCreate", `pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true)`)}
			},
			want: []string{"the Job controller cannot create the agent pod", "violates PodSecurity"}, maxTakes: 5 * time.Second},
		{name: "ephemeral without target", ephem: true, want: []string{"agent.ephemeral needs a target"}, maxTakes: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ac := newAgentCluster(t, tt.logs, tt.state)
			if tt.events != nil {
				// Events are only known once the agent's name is: add them when
				// the Job is created.
				ac.cs.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
					for _, ev := range tt.events(a.(k8stesting.CreateAction).GetObject().(*batchv1.Job).Name) {
						if err := ac.cs.Tracker().Add(ev); err != nil {
							return true, nil, err
						}
					}
					return false, nil, nil
				})
			}
			spec := testSpec(testTarget())
			if tt.ephem {
				spec.Target = nil
				spec.Config.Ephemeral = true
			}
			spec.Config.StartupTimeout = tt.timeout
			start := time.Now()
			a, err := ac.c.CreateAgent(context.Background(), spec, nil)
			if err == nil {
				a.Delete(context.Background())
				t.Fatal("CreateAgent succeeded")
			}
			t.Logf("error: %v", err)
			if took := time.Since(start); took > tt.maxTakes {
				t.Errorf("failing took %s, want at most %s", took, tt.maxTakes)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !tt.ephem && !errors.Is(err, ErrAgentStartup) {
				t.Errorf("error %q is not ErrAgentStartup", err)
			}
			ac.mu.Lock()
			defer ac.mu.Unlock()
			for _, j := range ac.jobs {
				if ac.jobExists(t, j.Namespace, j.Name) {
					t.Errorf("Job %s/%s left behind after the failure", j.Namespace, j.Name)
				}
			}
		})
	}
}

func TestCreateAgentEphemeral(t *testing.T) {
	tg := testTarget()
	ac := newAgentCluster(t, "agent ready - version 2.0.0\n", nil, tg.Pod.DeepCopy())
	// The kubelet's part: the ephemeral container starts once added.
	ac.cs.PrependReactor("update", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "ephemeralcontainers" {
			return false, nil, nil
		}
		pod := a.(k8stesting.UpdateAction).GetObject().(*corev1.Pod)
		for _, ec := range pod.Spec.EphemeralContainers {
			pod.Status.EphemeralContainerStatuses = append(pod.Status.EphemeralContainerStatuses, corev1.ContainerStatus{
				Name: ec.Name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			})
		}
		return false, nil, nil
	})
	spec := testSpec(tg)
	spec.Config.Ephemeral = true
	a, err := ac.c.CreateAgent(context.Background(), spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Delete(context.Background()) })
	if !a.Ephemeral || a.Pod != "web-1" || a.Namespace != testNS || !strings.HasPrefix(a.Container, "mirrord-agent-") || a.Job != "" || a.Version != "2.0.0" {
		t.Errorf("agent = %+v", a)
	}
	pod, err := ac.cs.CoreV1().Pods(testNS).Get(context.Background(), "web-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(pod.Spec.EphemeralContainers); n != 1 || pod.Spec.EphemeralContainers[0].TargetContainerName != "app" {
		t.Errorf("ephemeral containers = %+v", pod.Spec.EphemeralContainers)
	}
	if err := a.Delete(context.Background()); err != nil {
		t.Errorf("Delete of an ephemeral agent: %v", err)
	}
	select {
	case <-a.Gone():
		if !errors.Is(a.Err(), ErrAgentDeleted) {
			t.Errorf("Err after Delete = %v", a.Err())
		}
	default:
		t.Error("Gone not closed after Delete")
	}
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if len(ac.jobs) != 0 {
		t.Errorf("an ephemeral agent created Jobs: %v", ac.jobs)
	}
}

func TestReadyLine(t *testing.T) {
	tests := []struct{ line, version string }{
		{"agent ready - version 1.2.3", "1.2.3"},
		{`{"level":"INFO","msg":"agent ready - version 0.1.0-dev"}`, "0.1.0-dev"},
		{"agent ready", ""},
	}
	for _, tt := range tests {
		m := readyRE.FindStringSubmatch(tt.line)
		if m == nil || m[1] != tt.version {
			t.Errorf("%q: match %q, want version %q", tt.line, m, tt.version)
		}
	}
	if readyRE.MatchString("agent starting") {
		t.Error("matched a line that is not the ready line")
	}
}
