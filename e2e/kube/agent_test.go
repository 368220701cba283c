//go:build e2e

package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/e2e/cluster"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// agentImage is the agent image the harness imports: the CLI's default,
// schema.DefaultAgentRegistry tagged with the repository's VERSION.
// MIRRORD_E2E_AGENT_IMAGE replaces it, to try a locally built agent.
func agentImage(t *testing.T) string {
	t.Helper()
	if img := os.Getenv("MIRRORD_E2E_AGENT_IMAGE"); img != "" {
		return img
	}
	v, err := os.ReadFile(filepath.Join("..", "..", "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	return schema.DefaultAgentRegistry + ":" + strings.TrimSpace(string(v))
}

func newToken(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startAgent creates an agent for target (nil: targetless in ns), checks
// the steps it reported, and deletes it when the test ends.
func startAgent(t *testing.T, c *kube.Client, target *kube.Target, ns string, ephemeral bool, token string) *kube.Agent {
	t.Helper()
	cfg := schema.Default().Agent
	cfg.Ephemeral = ephemeral
	spec := kube.AgentSpec{
		Config: cfg, Target: target, Namespace: ns, Image: agentImage(t),
		TokenHash: protocol.TokenHash(token), CommunicationTimeout: 30 * time.Second,
	}
	var steps []string
	start := time.Now()
	a, err := c.CreateAgent(e2eenv.Context(t, 2*time.Minute), spec, func(s string) {
		steps = append(steps, fmt.Sprintf("%s (+%s)", s, time.Since(start).Round(time.Millisecond)))
	})
	if err != nil {
		t.Fatalf("CreateAgent: %v (steps %q)", err, steps)
	}
	t.Logf("agent %s/%s ready in %s: %q", a.Namespace, a.Pod, time.Since(start).Round(time.Millisecond), steps)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Delete(ctx); err != nil {
			t.Errorf("Delete: %v", err)
		}
	})
	return a
}

// connect dials the agent and handshakes with token.
func connect(t *testing.T, a *kube.Agent, token string) *protocol.Client {
	t.Helper()
	ctx := e2eenv.Context(t, 30*time.Second)
	start := time.Now()
	conn, err := a.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := protocol.NewClient(ctx, conn, protocol.ClientOptions{Token: token, Name: "e2e/kube"})
	if err != nil {
		t.Fatalf("handshake with agent %s/%s: %v", a.Namespace, a.Pod, err)
	}
	t.Logf("dial + handshake took %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { pc.Close() })
	return pc
}

// envMap fetches the target's environment.
func envMap(t *testing.T, pc *protocol.Client) map[string]string {
	t.Helper()
	vars, err := pc.Env(e2eenv.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, v := range vars {
		m[v.Name] = v.Value
	}
	return m
}

// noLeftovers waits until neither the agent's Job nor its pod exists.
func noLeftovers(t *testing.T, env *e2eenv.Env, a *kube.Agent) {
	t.Helper()
	env.Poll(t, time.Minute, "agent "+a.Name+" gone", func(ctx context.Context) error {
		_, err := env.Client.BatchV1().Jobs(a.Namespace).Get(ctx, a.Job, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("Job %s/%s still there (%v)", a.Namespace, a.Job, err)
		}
		pods, err := env.Client.CoreV1().Pods(a.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + a.Job})
		if err != nil {
			return err
		}
		if n := len(pods.Items); n > 0 {
			return fmt.Errorf("%d agent pods left (%s)", n, pods.Items[0].Name)
		}
		return nil
	})
}

func TestAgentTargetedJob(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	c := client(t, env)
	target, err := c.ResolveTarget(e2eenv.Context(t, 20*time.Second), "deploy/web", env.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	token := newToken(t)
	a := startAgent(t, c, target, "", false, token)
	if a.Namespace != env.Namespace || a.Job == "" || a.Ephemeral || a.Version == "" {
		t.Errorf("agent = %+v", a)
	}
	pod, err := env.Client.CoreV1().Pods(a.Namespace).Get(e2eenv.Context(t, 10*time.Second), a.Pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeName != cluster.NodeName || !pod.Spec.HostPID || pod.Labels["app"] != "mirrord" {
		t.Errorf("agent pod: node %q hostPID %v labels %v", pod.Spec.NodeName, pod.Spec.HostPID, pod.Labels)
	}

	pc := connect(t, a, token)
	info, err := pc.Info(e2eenv.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode != "targeted" || info.PID <= 0 || info.Version != a.Version {
		t.Errorf("info = %+v (agent printed version %q)", info, a.Version)
	}
	// It is attached to the web container: its environment is the pod's.
	if got := envMap(t, pc)[sample.EnvFirst]; got != sample.EnvFirstValue {
		t.Errorf("%s = %q, want %q", sample.EnvFirst, got, sample.EnvFirstValue)
	}
	// A second connection with a wrong token is refused.
	conn, err := a.Dial(e2eenv.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.NewClient(e2eenv.Context(t, 10*time.Second), conn, protocol.ClientOptions{Token: "wrong"}); !errors.Is(err, protocol.ErrRefused) {
		t.Errorf("wrong token: %v, want ErrRefused", err)
	}

	pc.Close()
	if err := a.Delete(e2eenv.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Gone():
		if !errors.Is(a.Err(), kube.ErrAgentDeleted) {
			t.Errorf("Err after Delete = %v", a.Err())
		}
	case <-time.After(5 * time.Second):
		t.Error("Gone not closed after Delete")
	}
	noLeftovers(t, env, a)
}

// TestAgentGone: deleting the agent's pod behind the session's back closes
// Gone with a message naming the pod, and the connection fails.
func TestAgentGone(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	c := client(t, env)
	target, err := c.ResolveTarget(e2eenv.Context(t, 20*time.Second), "statefulset/web-sts", env.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	token := newToken(t)
	a := startAgent(t, c, target, "", false, token)
	pc := connect(t, a, token)
	if out, err := env.Kubectl(e2eenv.Context(t, 30*time.Second), "delete", "pod", "-n", a.Namespace, a.Pod, "--wait=false").CombinedOutput(); err != nil {
		t.Fatalf("kubectl delete pod: %v: %s", err, out)
	}
	select {
	case <-a.Gone():
	case <-time.After(30 * time.Second):
		t.Fatal("Gone not closed after the agent pod was deleted")
	}
	if err := a.Err(); err == nil || !strings.Contains(err.Error(), "the agent pod "+a.Namespace+"/"+a.Pod) {
		t.Errorf("Err = %v, want one naming the agent pod", err)
	}
	select {
	case <-pc.Done():
	case <-time.After(30 * time.Second):
		t.Error("the agent session did not end after its pod went away")
	}
	if err := a.Delete(e2eenv.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, env, a)
}

func TestAgentEphemeral(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	c := client(t, env)
	// A pod of its own: ephemeral containers stay in a pod's spec for good.
	ns := env.TempNamespace(t, "kube-ephemeral")
	zero := int64(0)
	env.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "target", Namespace: ns},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &zero, Containers: []corev1.Container{{
			Name: "app", Image: cluster.SampleAppImage, ImagePullPolicy: corev1.PullNever, Args: []string{"web"},
			Env: []corev1.EnvVar{{Name: "EPHEMERAL_TARGET_VAR", Value: "yes"}},
		}}},
	})
	target, err := c.ResolveTarget(e2eenv.Context(t, 20*time.Second), "pod/target", ns)
	if err != nil {
		t.Fatal(err)
	}
	token := newToken(t)
	a := startAgent(t, c, target, "", true, token)
	if !a.Ephemeral || a.Pod != "target" || a.Namespace != ns || a.Job != "" {
		t.Errorf("agent = %+v", a)
	}
	pc := connect(t, a, token)
	info, err := pc.Info(e2eenv.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode != "ephemeral" {
		t.Errorf("info = %+v", info)
	}
	if got := envMap(t, pc)["EPHEMERAL_TARGET_VAR"]; got != "yes" {
		t.Errorf("EPHEMERAL_TARGET_VAR = %q, want yes", got)
	}
	// The agent exits when its last client leaves; the watch reports it.
	pc.Close()
	select {
	case <-a.Gone():
	case <-time.After(30 * time.Second):
		t.Fatal("Gone not closed after the ephemeral agent's client left")
	}
	if err := a.Err(); err == nil || !strings.Contains(err.Error(), "the agent container "+a.Container+" of pod "+ns+"/target exited") {
		t.Errorf("Err = %v", err)
	}
	if err := a.Delete(e2eenv.Context(t, 10*time.Second)); err != nil {
		t.Errorf("Delete of an ephemeral agent: %v", err)
	}
}

func TestAgentTargetless(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	c := client(t, env)
	ns := env.TempNamespace(t, "kube-targetless")
	token := newToken(t)
	a := startAgent(t, c, nil, ns, false, token)
	pod, err := env.Client.CoreV1().Pods(ns).Get(e2eenv.Context(t, 10*time.Second), a.Pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc := pod.Spec.Containers[0].SecurityContext; pod.Spec.HostPID || (sc != nil && sc.Capabilities != nil) {
		t.Errorf("targetless agent has privileges: hostPID %v security %+v", pod.Spec.HostPID, sc)
	}
	pc := connect(t, a, token)
	info, err := pc.Info(e2eenv.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode != "targetless" {
		t.Errorf("info = %+v", info)
	}
	pc.Close()
	if err := a.Delete(e2eenv.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	noLeftovers(t, env, a)
}

// TestAgentImageMissing: an image that cannot be had fails fast with the
// kubelet's reason, and nothing is left behind.
func TestAgentImageMissing(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	c := client(t, env)
	ns := env.TempNamespace(t, "kube-noimage")
	cfg := schema.Default().Agent
	cfg.ImagePullPolicy = "Never"
	spec := kube.AgentSpec{Config: cfg, Namespace: ns, Image: "e2e.mirrord.local/no-such-agent:0", TokenHash: protocol.TokenHash("x")}
	start := time.Now()
	a, err := c.CreateAgent(e2eenv.Context(t, 2*time.Minute), spec, nil)
	if err == nil {
		a.Delete(context.Background())
		t.Fatal("CreateAgent succeeded with a missing image")
	}
	took := time.Since(start)
	t.Logf("failed in %s: %v", took.Round(time.Millisecond), err)
	if !errors.Is(err, kube.ErrAgentStartup) || !strings.Contains(err.Error(), "ErrImageNeverPull") || !strings.Contains(err.Error(), "agent.image") {
		t.Errorf("error %q does not say the image is missing", err)
	}
	if took > 20*time.Second {
		t.Errorf("failing took %s; it should not wait for agent.startup_timeout", took)
	}
	env.Poll(t, time.Minute, "no agent Job left in "+ns, func(ctx context.Context) error {
		jobs, err := env.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(jobs.Items) > 0 {
			return fmt.Errorf("Job %s left", jobs.Items[0].Name)
		}
		return nil
	})
}
