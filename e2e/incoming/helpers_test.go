//go:build e2e

package incoming_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// event is one JSON line of the local server (testdata/server).
type event struct {
	Ev, Peer, Local, Addr, Proto, Method, Path, Test, UA string
	Bytes                                                int64
}

// localApp is `mirrord exec -- <server>` running in the laptop netns.
type localApp struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr e2eenv.SyncBuffer
	mu     sync.Mutex
	events []event
	exited chan struct{}
}

// startApp runs argv under mirrord with the config file cfg. The program
// runs in its own process group so that the test can kill the whole tree.
func startApp(t *testing.T, e *e2eenv.Env, cfg string, argv ...string) *localApp {
	t.Helper()
	return startCmd(t, func(ctx context.Context) *exec.Cmd {
		return e.Mirrord(t, ctx, append([]string{"exec", "-f", cfg, "--"}, argv...)...)
	})
}

// startCmd runs the command newCmd returns and collects the server
// events on its stdout.
func startCmd(t *testing.T, newCmd func(context.Context) *exec.Cmd) *localApp {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &localApp{t: t, exited: make(chan struct{})}
	a.cmd = newCmd(ctx)
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	a.cmd.Stderr = &a.stderr
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev event
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Ev != "" {
				a.mu.Lock()
				a.events = append(a.events, ev)
				a.mu.Unlock()
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		a.kill(syscall.SIGKILL)
		cancel()
		<-a.exited
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(a.cmd.Args[0]), a.stderr.String())
		}
	})
	return a
}

func (a *localApp) kill(sig syscall.Signal) {
	if a.cmd.Process != nil {
		_ = syscall.Kill(-a.cmd.Process.Pid, sig)
	}
}

// stop ends the app with SIGTERM and waits for mirrord to exit.
func (a *localApp) stop() {
	a.t.Helper()
	a.kill(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(30 * time.Second):
		a.t.Fatalf("mirrord did not exit within 30s of SIGTERM:\n%s", a.stderr.String())
	}
}

// requests returns the requests the app logged whose path starts with
// prefix.
func (a *localApp) requests(prefix string) []event {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []event
	for _, ev := range a.events {
		if ev.Ev == "req" && strings.HasPrefix(ev.Path, prefix) {
			out = append(out, ev)
		}
	}
	return out
}

func (a *localApp) all(kind string) []event {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []event
	for _, ev := range a.events {
		if ev.Ev == kind {
			out = append(out, ev)
		}
	}
	return out
}

// serverBinary builds testdata/server once per test binary.
var serverBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "mirrord-e2e-incoming-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "server")
	cmd := exec.Command(e2eenv.GoTool(), "build", "-o", out, ".")
	cmd.Dir = "testdata/server"
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building testdata/server: %v\n%s", err, b)
	}
	return out, nil
})

func server(t testing.TB) string {
	t.Helper()
	p, err := serverBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// writeConfig writes a mirrord config into the test's temp dir.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mirrord.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// stealConfig is a config targeting deployment/web with incoming set to
// the JSON object incoming.
func webConfig(e *e2eenv.Env, incoming string) string {
	return fmt.Sprintf(`{"target":{"path":"deployment/web","namespace":%q},"feature":{"network":{"incoming":%s}}}`, e.Namespace, incoming)
}

// cluster is what the tests send traffic from and check against: a client
// pod's network namespace, the web Service and pod.
type cluster struct {
	e         *e2eenv.Env
	clientIP  string
	clientNS  string // /run/netns/... of the client pod
	serviceIP string
}

var clientOnce struct {
	sync.Once
	c   *cluster
	err error
}

// clientPodName is created once per test binary and deleted by TestMain.
const clientPodName = "incoming-e2e-client"

func getCluster(t testing.TB) *cluster {
	t.Helper()
	e := e2eenv.Get(t)
	clientOnce.Do(func() { clientOnce.c, clientOnce.err = setupCluster(t, e) })
	if clientOnce.err != nil {
		t.Fatal(clientOnce.err)
	}
	return clientOnce.c
}

func setupCluster(t testing.TB, e *e2eenv.Env) (*cluster, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	web, err := e.Client.CoreV1().Pods(e.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(web.Items) == 0 {
		return nil, fmt.Errorf("finding the web pod: %v", err)
	}
	img := web.Items[0].Spec.Containers[0].Image
	_ = e.Client.CoreV1().Pods(e.Namespace).Delete(ctx, clientPodName, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: clientPodName, Namespace: e.Namespace, Labels: map[string]string{"app": "incoming-e2e-client"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{
				Name: "client", Image: img, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", "sleep 100000"},
			}},
		},
	}
	var p *corev1.Pod
	for i := 0; ; i++ {
		_, err = e.Client.CoreV1().Pods(e.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil || i > 50 {
			break
		}
		time.Sleep(200 * time.Millisecond) // the old one is still terminating
	}
	if err != nil {
		return nil, fmt.Errorf("creating the client pod: %w", err)
	}
	p = e.WaitPodReady(t, e.Namespace, clientPodName, time.Minute)
	ns, err := netnsOf(p.Status.PodIP)
	if err != nil {
		return nil, err
	}
	svc, err := e.Client.CoreV1().Services(e.Namespace).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the web Service: %w", err)
	}
	return &cluster{e: e, clientIP: p.Status.PodIP, clientNS: ns, serviceIP: svc.Spec.ClusterIP}, nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	cleanupBench()
	if clientOnce.c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_ = clientOnce.c.e.Client.CoreV1().Pods(clientOnce.c.e.Namespace).Delete(ctx, clientPodName, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
		cancel()
	}
	os.Exit(code)
}

// netnsOf finds the CNI network namespace that holds ip.
func netnsOf(ip string) (string, error) {
	paths, _ := filepath.Glob("/run/netns/cni-*")
	for _, p := range paths {
		var found bool
		err := e2eenv.InNetns(p, func() error {
			addrs, err := net.InterfaceAddrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.String() == ip {
					found = true
				}
			}
			return err
		})
		if err == nil && found {
			return p, nil
		}
	}
	return "", fmt.Errorf("no network namespace in /run/netns holds %s", ip)
}

// dial connects from the client pod.
func (c *cluster) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := e2eenv.InNetns(c.clientNS, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// httpClient sends HTTP/1.1 from the client pod; keepAlive false opens a
// connection per request.
func (c *cluster) httpClient(keepAlive bool) *http.Client {
	tr := &http.Transport{DialContext: c.dial, DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 16}
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

// web is the Service's URL for path.
func (c *cluster) web(path string) string { return "http://" + c.serviceIP + path }

// get sends one GET and returns the body.
func get(ctx context.Context, hc *http.Client, url string, header map[string]string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, b)
	}
	return string(b), err
}

// waitLocal sends GETs to path until one is answered by the local app
// (the subscription is active), and fails after timeout.
func (c *cluster) waitLocal(t *testing.T, path string, header map[string]string, timeout time.Duration) {
	t.Helper()
	hc := c.httpClient(false)
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		body, err := get(ctx, hc, c.web(path), header)
		cancel()
		if err == nil && strings.HasPrefix(body, "LOCAL") {
			return
		}
		last = fmt.Sprintf("%q %v", body, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the local app did not get traffic for %s within %s (last answer: %s)", path, timeout, last)
}

// webPod returns the web pod now serving.
func (c *cluster) webPod(t testing.TB) *corev1.Pod {
	t.Helper()
	return c.e.ReadyPod(t, "web")
}

// rules is what the web pod's network namespace holds of nftables and
// iptables rules.
func (c *cluster) rules(t *testing.T) string {
	t.Helper()
	ns, err := netnsOf(c.webPod(t).Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, argv := range [][]string{{"nft", "list", "ruleset"}, {"iptables-save"}, {"ip6tables-save"}} {
		cmd := exec.Command("ip", append([]string{"netns", "exec", filepath.Base(ns)}, argv...)...)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v in the web pod's netns: %v\n%s", argv, err, b)
		}
		fmt.Fprintf(&out, "# %s\n%s", strings.Join(argv, " "), b)
	}
	return out.String()
}

// noRules fails unless the web pod's namespace is free of mirrord rules
// within timeout.
func (c *cluster) noRules(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := c.rules(t)
		if !strings.Contains(strings.ToLower(r), "mirrord") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirrord rules are left in the web pod's network namespace after %s:\n%s", timeout, r)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
