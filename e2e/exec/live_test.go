//go:build e2e

package exec_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// live is a mirrord process that keeps running while the test acts.
type live struct {
	cmd    *exec.Cmd
	agent  chan string // the agent's name, from JSON progress
	ready  chan struct{}
	stderr bytes.Buffer
	mu     sync.Mutex
	exited chan struct{}
}

// start runs mirrord with JSON progress in the laptop netns, in its own
// process group so the test can kill the whole tree.
func start(t *testing.T, e *e2eenv.Env, readyTask string, args ...string) *live {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &live{agent: make(chan string, 1), ready: make(chan struct{}), exited: make(chan struct{})}
	l.cmd = e.Mirrord(t, ctx, args...)
	l.cmd.Env = append(l.cmd.Env, "MIRRORD_PROGRESS_MODE=json")
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	l.cmd.Stderr = &lockedWriter{mu: &l.mu, w: &l.stderr}
	out, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		cancel()
		<-l.exited
	})
	go func() {
		sc := bufio.NewScanner(out)
		var once sync.Once
		for sc.Scan() {
			var m struct {
				Type, Name string
				Success    bool
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil {
				continue
			}
			if i := strings.Index(m.Name, "mirrord-agent-"); m.Type == "NewTask" && i >= 0 {
				select {
				case l.agent <- strings.Fields(m.Name[i:])[0]:
				default:
				}
			}
			if m.Type == "FinishedTask" && m.Success && m.Name == readyTask {
				once.Do(func() { close(l.ready) })
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = l.cmd.Wait()
		close(l.exited)
	}()
	select {
	case <-l.ready:
	case <-l.exited:
		t.Fatalf("mirrord exited before %q: %s", readyTask, l.errText())
	case <-time.After(90 * time.Second):
		t.Fatalf("mirrord did not finish %q within 90s: %s", readyTask, l.errText())
	}
	return l
}

func (l *live) errText() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stderr.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// httpGet makes a request from the laptop netns to a local port.
func httpGet(ctx context.Context, e *e2eenv.Env, addr string) (string, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) { return e.LaptopDial(ctx, network, a) },
	}, Timeout: 5 * time.Second}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestPortForward(t *testing.T) {
	e := e2eenv.Get(t)
	svc, err := e.Client.CoreV1().Services(e.Namespace).Get(e2eenv.Context(t, 10*time.Second), "internal-only", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Without mirrord the laptop cannot reach the service.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if c, err := e.LaptopDial(ctx, "tcp", net.JoinHostPort(svc.Spec.ClusterIP, "80")); err == nil {
		c.Close()
		t.Fatal("internal-only is reachable from the laptop netns without mirrord: the test proves nothing")
	}
	cancel()
	tests := []struct {
		name, target, port string
	}{
		{"targeted", "deploy/web", "18080"},
		{"targetless", "targetless", "18081"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := start(t, e, "connecting to the agent", "port-forward", "-t", tt.target, "-n", e.Namespace,
				"-L", tt.port+":internal-only:80", "-L", "0:tcp-echo:7777")
			ctx := e2eenv.Context(t, 30*time.Second)
			for i := range 3 { // each connection is dialled from the pod on its own
				body, err := httpGet(ctx, e, "127.0.0.1:"+tt.port)
				if err != nil {
					t.Fatalf("request %d through the forward: %v\n%s", i, err, l.errText())
				}
				if !strings.HasPrefix(body, "GET from pod internal-only-") {
					t.Fatalf("request %d: body %q, want internal-only's answer", i, body)
				}
			}
		})
	}
}

func TestPortForwardBadFlags(t *testing.T) {
	e := e2eenv.Get(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-L", "80"}, "-L"},
		{[]string{"-L", "1:a:1", "-L", "1:b:2"}, "given twice"},
		{[]string{"-R", "80"}, "-R"},
		{nil, "-L"},
	}
	for _, tt := range tests {
		r := run(t, e, nil, append([]string{"port-forward", "-t", "targetless"}, tt.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("port-forward %v: exit %d, stderr %q; want an error naming %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}

func TestFaultKilledCLI(t *testing.T) {
	e := e2eenv.Get(t)
	l := start(t, e, "fetching the target's environment", "exec", "--agent-ttl", "1", "-t", "deploy/web", "-n", e.Namespace, "--", "sleep", "300")
	job := <-l.agent
	if err := l.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The agent sees its client go (or misses heartbeats) and exits; the
	// Job's ttlSecondsAfterFinished=1 then removes it.
	bound := 30 * time.Second
	e.Poll(t, bound, fmt.Sprintf("agent Job %s gone after SIGKILL of the CLI", job), func(ctx context.Context) error {
		return gone(ctx, e, job)
	})
}

func TestFaultAgentPodDeleted(t *testing.T) {
	e := e2eenv.Get(t)
	l := start(t, e, "fetching the target's environment", "exec", "-t", "deploy/web", "-n", e.Namespace, "--", "sleep", "300")
	job := <-l.agent
	ctx := e2eenv.Context(t, 30*time.Second)
	zero := int64(0)
	err := e.Client.CoreV1().Pods(e.Namespace).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
		metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("mirrord did not exit within 30s of its agent pod being deleted")
	}
	if code := l.cmd.ProcessState.ExitCode(); code == 0 {
		t.Errorf("exit 0 after losing the agent")
	}
	msg := l.errText()
	if !strings.Contains(msg, "agent") || !strings.Contains(msg, "sleep") {
		t.Errorf("stderr should say the agent was lost and the program stopped, got:\n%s", msg)
	}
}
