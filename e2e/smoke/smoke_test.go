//go:build e2e

package smoke

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/e2e/cluster"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}

func TestNodeReady(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	node, err := env.Client.CoreV1().Nodes().Get(e2eenv.Context(t, 10*time.Second), cluster.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ready corev1.ConditionStatus
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready = c.Status
		}
	}
	if ready != corev1.ConditionTrue {
		t.Errorf("node Ready = %q, want True", ready)
	}
	if v := node.Status.NodeInfo.KubeletVersion; v != cluster.KubeVersion {
		t.Errorf("kubelet version = %s, want %s", v, cluster.KubeVersion)
	}
}

// TestHostReachesPodAndService: on this machine the host is the node, so it
// reaches pod IPs and ClusterIPs directly (the laptop netns must not).
func TestHostReachesPodAndService(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	ctx := e2eenv.Context(t, time.Minute)
	pod := env.ReadyPod(t, "web")
	body, err := httpGet(ctx, "http://"+net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(sample.WebPort))+"/")
	if err != nil || body != sample.WebResponse("GET", pod.Name) {
		t.Errorf("pod IP answer = %q, %v; want %q", body, err, sample.WebResponse("GET", pod.Name))
	}
	svc, err := env.Client.CoreV1().Services(env.Namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// kube-proxy programs a Service shortly after its endpoints appear: the
	// first request may need a retry (only matters right after deploy).
	url := "http://" + net.JoinHostPort(svc.Spec.ClusterIP, "80") + "/file"
	env.Poll(t, 10*time.Second, "ClusterIP "+url, func(ctx context.Context) error {
		body, err = httpGet(ctx, url)
		return err
	})
	if body != sample.TestFileText {
		t.Errorf("ClusterIP /file = %q, want %q", body, sample.TestFileText)
	}
}

func TestPortForward(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	pod := env.ReadyPod(t, "web")
	addr := env.PortForward(t, env.Namespace, pod.Name, sample.WebPort)
	ctx := e2eenv.Context(t, 30*time.Second)
	tests := []struct{ path, want string }{
		{"/", sample.WebResponse("GET", pod.Name)},
		{"/file", sample.TestFileText},
	}
	for _, tt := range tests {
		if got, err := httpGet(ctx, "http://"+addr+tt.path); err != nil || got != tt.want {
			t.Errorf("GET %s through port-forward = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

func TestExec(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	pod := env.ReadyPod(t, "web")
	tests := []struct {
		name  string
		stdin string
		cmd   []string
		want  string
	}{
		{"file", "", []string{"cat", sample.TestFilePath}, sample.TestFileText},
		{"env", "", []string{"sh", "-c", "echo $" + sample.EnvFirst + " $" + sample.EnvSecond}, sample.EnvFirstValue + " " + sample.EnvSecondValue + "\n"},
		{"env from ConfigMap", "", []string{"sh", "-c", `echo "$` + sample.EnvThird + `"`}, sample.EnvThirdValue + "\n"},
		{"stdin", "hi\n", []string{"sh", "-c", "read x; echo got:$x"}, "got:hi\n"},
		{"write and read back", "", []string{"sh", "-c", "echo written > /tmp/e2e-exec && cat /tmp/e2e-exec && rm /tmp/e2e-exec"}, "written\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdin io.Reader
			if tt.stdin != "" {
				stdin = strings.NewReader(tt.stdin)
			}
			out, _, err := env.Exec(e2eenv.Context(t, 30*time.Second), env.Namespace, pod.Name, "web", stdin, tt.cmd...)
			if err != nil || out != tt.want {
				t.Errorf("exec %v = %q, %v; want %q", tt.cmd, out, err, tt.want)
			}
		})
	}
}

func TestJobCompletes(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	ns := env.TempNamespace(t, "smoke-job")
	ctx := e2eenv.Context(t, 2*time.Minute)
	zero, grace := int32(0), int64(1)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "fetch", Namespace: ns},
		Spec: batchv1.JobSpec{
			BackoffLimit: &zero,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:                 corev1.RestartPolicyNever,
				TerminationGracePeriodSeconds: &grace,
				Containers: []corev1.Container{{
					Name: "fetch", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
					// through cluster DNS and the Service
					Command: []string{"wget", "-qO-", "http://web." + env.Namespace + ".svc.cluster.local/file"},
				}},
			}},
		},
	}
	if _, err := env.Client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.Poll(t, 90*time.Second, "job "+ns+"/fetch to complete", func(ctx context.Context) error {
		j, err := env.Client.BatchV1().Jobs(ns).Get(ctx, "fetch", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				t.Fatalf("job failed: %s", c.Message)
			}
		}
		if j.Status.Succeeded != 1 {
			return fmt.Errorf("succeeded = %d", j.Status.Succeeded)
		}
		return nil
	})
	pods, err := env.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=fetch"})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("job pods = %v, %v", pods, err)
	}
	logs, err := env.Client.CoreV1().Pods(ns).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil || string(logs) != sample.TestFileText {
		t.Errorf("job output = %q, %v; want %q", logs, err, sample.TestFileText)
	}
}

func TestEphemeralContainerSeesTarget(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	ns := env.TempNamespace(t, "smoke-debug")
	grace := int64(1)
	pod := env.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "target", Namespace: ns},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "app", Image: cluster.SampleAppImage, ImagePullPolicy: corev1.PullNever, Args: []string{"tcp-echo"},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(sample.TCPEchoPort)}}, PeriodSeconds: 1},
			}},
		},
	})
	ctx := e2eenv.Context(t, 2*time.Minute)
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
		TargetContainerName: "app",
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
			Command: []string{"sleep", "3600"},
		},
	})
	if _, err := env.Client.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, pod.Name, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("add ephemeral container: %v", err)
	}
	env.Poll(t, 60*time.Second, "ephemeral container running", func(ctx context.Context) error {
		p, err := env.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, st := range p.Status.EphemeralContainerStatuses {
			if st.Name == "debugger" && st.State.Running != nil {
				return nil
			}
		}
		return errors.New("not running yet")
	})
	// With targetContainerName the debugger shares the app's PID namespace.
	out, _, err := env.Exec(ctx, ns, pod.Name, "debugger", nil, "ps", "-o", "args")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "/app/sampleapp tcp-echo") {
		t.Errorf("ps in the ephemeral container does not list the target's process:\n%s", out)
	}
}

func TestHostPIDPrivilegedPod(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	ns := env.TempNamespace(t, "smoke-hostpid")
	grace, privileged := int64(1), true
	pod := env.CreatePod(t, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-like", Namespace: ns},
		Spec: corev1.PodSpec{
			HostPID:                       true,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "agent", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command:         []string{"sleep", "3600"},
				SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
				ReadinessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, PeriodSeconds: 1},
			}},
		},
	})
	ctx := e2eenv.Context(t, time.Minute)
	// The pod sees the host's processes: this test process by its host PID.
	out, _, err := env.Exec(ctx, ns, pod.Name, "agent", nil, "cat", fmt.Sprintf("/proc/%d/cmdline", os.Getpid()))
	self, _ := os.ReadFile("/proc/self/cmdline")
	if err != nil || out != string(self) {
		t.Errorf("cmdline of the test process seen from the pod = %q, %v; want %q", out, err, self)
	}
	// Privileged: every capability of the host's bounding set is effective.
	out, _, err = env.Exec(ctx, ns, pod.Name, "agent", nil, "sh", "-c", "grep CapEff /proc/self/status | cut -f2")
	want := capBnd(t)
	if err != nil || strings.TrimSpace(out) != want {
		t.Errorf("CapEff in the pod = %q, %v; want the host bounding set %s", out, err, want)
	}
}

func capBnd(t *testing.T) string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return ""
}

func TestDNSInPod(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	ctx := e2eenv.Context(t, time.Minute)
	pod := env.ReadyPod(t, "web")
	svc, err := env.Client.CoreV1().Services(env.Namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		cmd        []string
	}{
		// Go's resolver in the app honours the search path: short names work.
		{"Go resolver, short name", svc.Spec.ClusterIP + "\n", []string{"wget", "-qO-", "http://127.0.0.1/resolve?name=web"}},
		{"Go resolver, other namespace", cluster.APIServiceIP + "\n", []string{"wget", "-qO-", "http://127.0.0.1/resolve?name=kubernetes.default"}},
		// busybox nslookup ignores search domains: FQDN.
		{"nslookup FQDN", "Address: " + svc.Spec.ClusterIP, []string{"nslookup", "web." + env.Namespace + ".svc.cluster.local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := env.Exec(ctx, env.Namespace, pod.Name, "web", nil, tt.cmd...)
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "nslookup FQDN" {
				if !strings.Contains(out, tt.want) {
					t.Errorf("%v = %q, want it to hold %q", tt.cmd, out, tt.want)
				}
			} else if out != tt.want {
				t.Errorf("%v = %q, want %q", tt.cmd, out, tt.want)
			}
		})
	}
}

// TestLaptopNetns: the laptop netns reaches the API server but no pod IP,
// ClusterIP or cluster DNS, like a developer's machine.
func TestLaptopNetns(t *testing.T) {
	t.Parallel()
	env := e2eenv.Get(t)
	ctx := e2eenv.Context(t, time.Minute)
	pod := env.ReadyPod(t, "web")
	svc, err := env.Client.CoreV1().Services(env.Namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	unreachable := []string{
		net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(sample.WebPort)),
		net.JoinHostPort(svc.Spec.ClusterIP, "80"),
		net.JoinHostPort(cluster.DNSServiceIP, "53"),
	}
	for _, addr := range unreachable {
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		conn, err := env.LaptopDial(dctx, "tcp", addr)
		cancel()
		if err == nil {
			conn.Close()
			t.Errorf("laptop netns reached %s", addr)
		} else if !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("dial %s from the laptop netns: %v, want network unreachable", addr, err)
		}
	}
	out, err := env.LaptopKubectl(ctx, "get", "namespace", env.Namespace, "-o", "jsonpath={.metadata.name}").CombinedOutput()
	if err != nil || string(out) != env.Namespace {
		t.Errorf("kubectl in the laptop netns = %q, %v; want %q", out, err, env.Namespace)
	}
	resolv, err := env.LaptopCommand(ctx, "cat", "/etc/resolv.conf").Output()
	if err != nil || strings.Contains(string(resolv), cluster.DNSServiceIP) || strings.Contains(string(resolv), "cluster.local") {
		t.Errorf("laptop resolv.conf = %q, %v; want one that knows nothing of the cluster", resolv, err)
	}
}
