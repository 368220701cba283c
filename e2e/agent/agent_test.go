//go:build e2e

// Package agent_test proves the mirrord agent image on the real cluster:
// started as a targeted Job next to the web pod, as the CLI will start it,
// and reached only through the API server's port-forward.
package agent_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/e2e/cluster"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// agentPort is inside upstream's random range; any port works, since the
// agent listens in its own pod's network namespace.
const agentPort = 41337

// agentJob is a targeted agent Job as the CLI creates it.
type agentJob struct {
	ns, name, pod string
	version       string
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func startAgent(t *testing.T, env *e2eenv.Env, target *corev1.Pod, container, token string) agentJob {
	t.Helper()
	ctx := e2eenv.Context(t, 2*time.Minute)
	version, err := cluster.RepoVersion(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	var containerID string
	for _, st := range target.Status.ContainerStatuses {
		if st.Name == container {
			containerID = st.ContainerID
		}
	}
	if containerID == "" {
		t.Fatalf("pod %s has no container %q with an id", target.Name, container)
	}
	runtime, id, _ := strings.Cut(containerID, "://")
	hash := protocol.TokenHash(token)
	ns := env.TempNamespace(t, "agent")
	grace, backoff, ttl := int64(1), int32(0), int32(60)
	hostPathDir := corev1.HostPathDirectory
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "mirrord-agent-" + randomHex(t, 5), Namespace: ns, Labels: map[string]string{"app": "mirrord"}},
		Spec: batchv1.JobSpec{
			BackoffLimit: &backoff, TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "mirrord"}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever, HostPID: true, NodeName: target.Spec.NodeName,
					TerminationGracePeriodSeconds: &grace,
					Volumes: []corev1.Volume{
						{Name: "host-run", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run", Type: &hostPathDir}}},
						{Name: "host-var", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var", Type: &hostPathDir}}},
					},
					Containers: []corev1.Container{{
						Name: "mirrord-agent", Image: cluster.AgentImage(version), ImagePullPolicy: corev1.PullIfNotPresent,
						Args: []string{"-l", strconv.Itoa(agentPort), "-t", "60", "targeted", "--container-id", id, "--container-runtime", runtime},
						Env: []corev1.EnvVar{
							{Name: "MIRRORD_AGENT_TOKEN_SHA256", Value: hex.EncodeToString(hash[:])},
							{Name: "RUST_LOG", Value: "debug"},
						},
						SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
							Add: []corev1.Capability{"SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN"},
						}},
						VolumeMounts: []corev1.VolumeMount{{Name: "host-run", MountPath: "/host/run"}, {Name: "host-var", MountPath: "/host/var"}},
					}},
				},
			},
		},
	}
	if _, err := env.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create agent job %s/%s: %v", ns, job.Name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		bg := metav1.DeletePropagationBackground
		err := env.Client.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete agent job %s/%s: %v", ns, job.Name, err)
		}
	})
	a := agentJob{ns: ns, name: job.Name, version: version}
	t.Cleanup(func() {
		if !t.Failed() || a.pod == "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		logs, err := env.Client.CoreV1().Pods(ns).GetLogs(a.pod, &corev1.PodLogOptions{}).DoRaw(ctx)
		t.Logf("agent log (%v):\n%s", err, logs)
	})
	// Ready as the CLI sees it: the pod runs and its log has the ready line.
	want := "agent ready - version " + version
	env.Poll(t, 60*time.Second, "agent pod "+ns+"/"+job.Name+" ready", func(ctx context.Context) error {
		pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job.Name})
		if err != nil {
			return err
		}
		if len(pods.Items) != 1 {
			return fmt.Errorf("%d agent pods", len(pods.Items))
		}
		p := pods.Items[0]
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("agent pod %s is %s: %s", p.Name, p.Status.Phase, containerState(&p))
		}
		logs, err := env.Client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			return err
		}
		if !strings.Contains(string(logs), want) {
			return fmt.Errorf("no %q in the agent log yet:\n%s", want, logs)
		}
		a.pod = p.Name
		return nil
	})
	return a
}

func containerState(p *corev1.Pod) string {
	for _, st := range p.Status.ContainerStatuses {
		switch {
		case st.State.Waiting != nil:
			return st.State.Waiting.Reason + ": " + st.State.Waiting.Message
		case st.State.Terminated != nil:
			return fmt.Sprintf("exited %d: %s", st.State.Terminated.ExitCode, st.State.Terminated.Message)
		}
	}
	return "running"
}

func dialAgent(ctx context.Context, addr, token string) (*protocol.Client, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return protocol.NewClient(ctx, conn, protocol.ClientOptions{Token: token, Name: "e2e-agent-test"})
}

func TestTargetedAgent(t *testing.T) {
	env := e2eenv.Get(t)
	web := env.ReadyPod(t, "web")
	token := randomHex(t, 16)
	a := startAgent(t, env, web, "web", token)
	addr := env.PortForward(t, a.ns, a.pod, agentPort)
	ctx := e2eenv.Context(t, 2*time.Minute)

	t.Run("refuses a missing or wrong token", func(t *testing.T) {
		for _, tok := range []string{"", "wrong-" + token} {
			cl, err := dialAgent(ctx, addr, tok)
			if err == nil {
				cl.Close()
				t.Fatalf("handshake with token %q succeeded", tok)
			}
			if !errors.Is(err, protocol.ErrRefused) || !strings.Contains(err.Error(), "token") {
				t.Errorf("handshake with token %q = %v; want refused for the token", tok, err)
			}
		}
	})

	cl, err := dialAgent(ctx, addr, token)
	if err != nil {
		t.Fatalf("handshake with the right token: %v", err)
	}
	defer cl.Close()
	if cl.Agent() != "mirrord-agent/"+a.version {
		t.Errorf("agent = %q; want mirrord-agent/%s", cl.Agent(), a.version)
	}

	t.Run("info", func(t *testing.T) {
		info, err := cl.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode != "targeted" || info.PID <= 0 || info.Version != a.version || len(info.PodIPs) == 0 || info.PodIPs[0] != web.Status.PodIP {
			t.Errorf("info = %+v; want targeted, version %s, pod IPs [%s]", info, a.version, web.Status.PodIP)
		}
		logAgentRSS(t)
	})
	t.Run("env", func(t *testing.T) {
		vars, err := cl.Env(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, v := range vars {
			got[v.Name] = v.Value
		}
		for name, want := range map[string]string{sample.EnvFirst: sample.EnvFirstValue, sample.EnvSecond: sample.EnvSecondValue, sample.EnvThird: sample.EnvThirdValue} {
			if v, ok := got[name]; !ok || v != want {
				t.Errorf("env %s = %q (set %v); want %q", name, v, ok, want)
			}
		}
	})
	t.Run("hostname", func(t *testing.T) {
		var r protocol.HostnameResponse
		if err := cl.Call(ctx, protocol.KindHostname, protocol.HostnameRequest{}, &r); err != nil || r.Hostname != web.Name {
			t.Errorf("hostname = %q, %v; want %s", r.Hostname, err, web.Name)
		}
	})
	t.Run("lookup", func(t *testing.T) {
		svc, err := env.Client.CoreV1().Services(env.Namespace).Get(ctx, "internal-only", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		addrs, err := cl.Lookup(ctx, "internal-only")
		if err != nil || len(addrs) != 1 || addrs[0].String() != svc.Spec.ClusterIP {
			t.Errorf("lookup internal-only = %v, %v; want [%s]", addrs, err, svc.Spec.ClusterIP)
		}
		_, err = cl.Lookup(ctx, "no-such-service")
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound || !strings.Contains(pe.Msg, env.Namespace+".svc.cluster.local") {
			t.Errorf("lookup no-such-service = %v; want not_found naming the search domains", err)
		}
	})
	t.Run("tcp.connect internal-only:80", func(t *testing.T) {
		backend := env.ReadyPod(t, "internal-only")
		conn, err := cl.DialTCP(ctx, "internal-only:80")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: internal-only\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != sample.WebResponse("GET", backend.Name) {
			t.Errorf("GET / = %s %q, %v; want %q", resp.Status, body, err, sample.WebResponse("GET", backend.Name))
		}
	})
	t.Run("udp to udp-logger", func(t *testing.T) {
		logger := env.ReadyPod(t, "udp-logger")
		conn, err := cl.DialUDP(ctx, "udp-logger:"+strconv.Itoa(sample.UDPLoggerPort))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		payload := "agent-e2e-" + randomHex(t, 6)
		// UDP may lose a datagram; send until the logger logged one. A new
		// ClusterIP flow can also race kube-proxy's rules.
		env.Poll(t, 30*time.Second, "udp-logger logging "+payload, func(ctx context.Context) error {
			if _, err := conn.Write([]byte(payload)); err != nil {
				return err
			}
			logs, err := env.Client.CoreV1().Pods(env.Namespace).GetLogs(logger.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
			if err != nil {
				return err
			}
			if !strings.Contains(string(logs), "data="+payload) {
				return errors.New("not logged yet")
			}
			return nil
		})
	})

	// The last client leaves: the agent exits by itself and the Job completes.
	cl.Close()
	env.Poll(t, 30*time.Second, "agent job "+a.ns+"/"+a.name+" complete", func(ctx context.Context) error {
		job, err := env.Client.BatchV1().Jobs(a.ns).Get(ctx, a.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if job.Status.Failed > 0 {
			return fmt.Errorf("agent job failed: %+v", job.Status)
		}
		if job.Status.Succeeded != 1 {
			return fmt.Errorf("job status %+v", job.Status)
		}
		return nil
	})
	if logs, err := env.Client.CoreV1().Pods(a.ns).GetLogs(a.pod, &corev1.PodLogOptions{}).DoRaw(ctx); err == nil {
		for _, line := range strings.Split(string(logs), "\n") {
			if strings.Contains(line, "target found") || strings.Contains(line, "exiting") {
				t.Logf("agent: %s", line)
			}
		}
	}
}

// logAgentRSS reports the agent's resident memory with one session open:
// the test runs on the node, so the agent is one of its processes.
func logAgentRSS(t *testing.T) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || filepath.Base(exe) != "mirrord-agent" {
			continue
		}
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				t.Logf("agent pid %s %s (one session connected)", e.Name(), strings.Join(strings.Fields(line), " "))
			}
		}
	}
}
