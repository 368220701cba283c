//go:build e2e

package incoming_test

import (
	"context"
	"fmt"
	"net/http/httptrace"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podServes waits until the pod answers through the Service again and
// returns how long that took.
func (c *cluster) podServes(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	hc := c.httpClient(false)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		body, err := get(ctx, hc, c.web("/back"), nil)
		cancel()
		if err == nil && fromPod(body) {
			return time.Since(t0)
		}
		if time.Since(t0) > timeout {
			t.Fatalf("the pod does not answer within %s: %q %v", timeout, body, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStealFaults(t *testing.T) {
	c := getCluster(t)
	// The agent notices a dead client within protocol.DeadPeerBound (15s)
	// and exits; the kernel drops its table with its socket.
	const within = 40 * time.Second
	t.Run("SIGKILL of the CLI", func(t *testing.T) {
		app := startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"steal"}`)), server(t), "-addr", ":80")
		c.waitLocal(t, "/sigkill-warm", nil, 60*time.Second)
		app.kill(syscall.SIGKILL)
		<-app.exited
		back := c.podServes(t, within)
		c.noRules(t, within)
		t.Logf("after SIGKILL of mirrord and its program the pod answers again after %s", back.Round(time.Millisecond))
	})
	t.Run("agent pod deleted", func(t *testing.T) {
		startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"steal"}`)), server(t), "-addr", ":80")
		c.waitLocal(t, "/delete-warm", nil, 60*time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pods, err := c.e.Client.CoreV1().Pods(c.e.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=mirrord"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("finding the agent pod: %v (%d pods)", err, len(pods.Items))
		}
		for _, p := range pods.Items {
			if err := c.e.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		back := c.podServes(t, within)
		c.noRules(t, within)
		t.Logf("after the agent pod was deleted the pod answers again after %s", back.Round(time.Millisecond))
	})
}

// nftInWeb runs nft in the web pod's network namespace.
func (c *cluster) nftInWeb(t *testing.T, args ...string) {
	t.Helper()
	ns, err := netnsOf(c.webPod(t).Status.PodIP)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", append([]string{"netns", "exec", filepath.Base(ns), "nft"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft %v: %v\n%s", args, err, out)
	}
}

func TestLeftoverRules(t *testing.T) {
	c := getCluster(t)
	// What a dead agent of another build could leave: a mirrord table
	// with a redirect chain, owned by no one.
	c.nftInWeb(t, "add", "table", "inet", "mirrord_dead_agent")
	c.nftInWeb(t, "add", "chain", "inet", "mirrord_dead_agent", "prerouting", "{ type nat hook prerouting priority -110 ; }")
	t.Cleanup(func() {
		ns, err := netnsOf(c.webPod(t).Status.PodIP)
		if err == nil {
			_ = exec.Command("ip", "netns", "exec", filepath.Base(ns), "nft", "delete", "table", "inet", "mirrord_dead_agent").Run()
		}
	})

	app := startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"steal"}`)), server(t), "-addr", ":80")
	select {
	case <-app.exited:
	case <-time.After(90 * time.Second):
		t.Fatal("mirrord kept running next to leftover rules")
	}
	msg := app.stderr.String()
	if app.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(msg, "mirrord_dead_agent") || !strings.Contains(msg, "agent.clean_iptables_on_start") {
		t.Fatalf("want a failure naming the leftover table and agent.clean_iptables_on_start, got exit %d:\n%s", app.cmd.ProcessState.ExitCode(), msg)
	}
	t.Logf("leftover refused: %s", strings.TrimSpace(msg[strings.LastIndex(strings.TrimSpace(msg), "\n")+1:]))

	cfg := fmt.Sprintf(`{"target":{"path":"deployment/web","namespace":%q},"agent":{"clean_iptables_on_start":true},"feature":{"network":{"incoming":{"mode":"steal"}}}}`, c.e.Namespace)
	app = startApp(t, c.e, writeConfig(t, cfg), server(t), "-addr", ":80")
	c.waitLocal(t, "/cleaned", nil, 60*time.Second)
	if r := c.rules(t); strings.Contains(r, "mirrord_dead_agent") {
		t.Fatalf("clean_iptables_on_start left the leftover table:\n%s", r)
	}
	app.stop()
	c.noRules(t, 30*time.Second)
}

// TestFilteredStealLoad sends 1,000 requests through a filtered steal
// while the local app starts and stops twice, and counts every answer and
// every delivery on both sides: each request must be answered once and
// delivered once, locally or to the pod.
func TestFilteredStealLoad(t *testing.T) {
	c := getCluster(t)
	cfg := writeConfig(t, webConfig(c.e, `{"mode":"steal","http_filter":{"header_filter":"x-mirrord-test: yes"}}`))
	mine := map[string]string{"x-mirrord-test": "yes"}
	const total, workers = 1000, 4
	prefix := "/load-" + nonce() + "/"
	sinceLogs := metav1.Now()

	var (
		mu         sync.Mutex
		apps       []*localApp
		local, pod int
		failed     []string
		next       int
		retried    = map[string][]string{}
	)
	start := func() {
		a := startApp(t, c.e, cfg, server(t), "-addr", ":80")
		c.waitLocal(t, "/load-warm", mine, 60*time.Second)
		mu.Lock()
		apps = append(apps, a)
		mu.Unlock()
	}
	start()
	// Paced (about 65 requests/s), so that the load spans the app's stops
	// and starts.
	jobs := make(chan int)
	go func() {
		defer close(jobs)
		tick := time.NewTicker(15 * time.Millisecond)
		defer tick.Stop()
		for i := range total {
			<-tick.C
			jobs <- i
			mu.Lock()
			next = i + 1
			mu.Unlock()
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := c.httpClient(true)
			for i := range jobs {
				ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
				// The client's own retries (a reused connection that
				// failed) show as more than one connection per request.
				var conns []string
				ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
					conns = append(conns, fmt.Sprintf("%s reused=%v", ci.Conn.LocalAddr(), ci.Reused))
				}})
				body, err := get(ctx, hc, c.web(fmt.Sprintf("%s%d", prefix, i)), mine)
				cancel()
				mu.Lock()
				if len(conns) > 1 {
					retried[fmt.Sprintf("%s%d", prefix, i)] = conns
				}
				switch {
				case err != nil:
					failed = append(failed, fmt.Sprintf("%d: %v", i, err))
				case strings.HasPrefix(body, "LOCAL"):
					local++
				case fromPod(body):
					pod++
				default:
					failed = append(failed, fmt.Sprintf("%d: %q", i, body))
				}
				mu.Unlock()
			}
		}()
	}
	// The app stops (gracefully, as a developer's Ctrl-C of the app) and
	// starts while the load runs.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for _, tr := range []struct {
		at   int
		stop bool
	}{{200, true}, {350, false}, {600, true}, {750, false}} {
		at := tr.at
		for {
			mu.Lock()
			n := next
			mu.Unlock()
			if n >= at {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if tr.stop {
			mu.Lock()
			a := apps[len(apps)-1]
			mu.Unlock()
			if _, err := get(context.Background(), c.httpClient(false), c.web("/quit"), mine); err != nil {
				t.Errorf("/quit: %v", err)
			}
			<-a.exited
		} else {
			start()
		}
	}
	<-done

	// Deliveries: the local apps' logs and the pod's log.
	delivered := map[string]int{}
	for _, a := range apps {
		for _, ev := range a.requests(prefix) {
			delivered[ev.Path]++
		}
	}
	localDelivered := len(delivered)
	logs := c.podLog(t, sinceLogs)
	podDelivered := 0
	for _, line := range strings.Split(logs, "\n") {
		if i := strings.Index(line, "path="+prefix); i >= 0 {
			p := strings.Fields(line[i+len("path="):])[0]
			delivered[p]++
			podDelivered++
		}
	}
	var dup, lost []string
	for i := range total {
		p := fmt.Sprintf("%s%d", prefix, i)
		switch delivered[p] {
		case 0:
			lost = append(lost, p)
		case 1:
		default:
			dup = append(dup, fmt.Sprintf("%s x%d", p, delivered[p]))
			// Where each copy went, to tell a client retry from an
			// agent one.
			for j, a := range apps {
				for _, ev := range a.requests(p) {
					if ev.Path == p {
						t.Logf("%s: local run %d, peer %s", p, j+1, ev.Peer)
					}
				}
			}
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, "path="+p+" ") {
					t.Logf("%s: pod: %s", p, line)
				}
			}
			t.Logf("%s: client connections: %v", p, retried[p])
		}
	}
	t.Logf("load: %d requests: %d answered locally, %d by the pod, %d failed; delivered %d locally and %d to the pod; %d lost, %d duplicated",
		total, local, pod, len(failed), localDelivered, podDelivered, len(lost), len(dup))
	if len(failed) > 0 || len(lost) > 0 || len(dup) > 0 || local+pod != total {
		t.Fatalf("failed: %v\nlost: %v\nduplicated: %v", failed, lost, dup)
	}
	for i, a := range apps {
		if n := len(a.requests(prefix)); n == 0 {
			t.Errorf("run %d of the local app got none of the load", i+1)
		}
	}
	if pod == 0 {
		t.Fatalf("the pod answered none of the load while the app was stopped")
	}
}

// podLog is the web pod's log since t0.
func (c *cluster) podLog(t *testing.T, t0 metav1.Time) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pod := c.webPod(t)
	b, err := c.e.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{SinceTime: &t0}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading the web pod's log: %v", err)
	}
	return string(b)
}

// TestConcurrentSteal: a second session stealing the same port gets a
// clear error, and the first keeps the traffic.
func TestConcurrentSteal(t *testing.T) {
	c := getCluster(t)
	cfg := writeConfig(t, webConfig(c.e, `{"mode":"steal"}`))
	first := startApp(t, c.e, cfg, server(t), "-addr", ":80", "-name", "first")
	c.waitLocal(t, "/first", nil, 60*time.Second)
	second := startApp(t, c.e, cfg, server(t), "-addr", ":80", "-name", "second")
	select {
	case <-second.exited:
	case <-time.After(90 * time.Second):
		t.Fatal("the second stealing session kept running")
	}
	msg := second.stderr.String()
	if !strings.Contains(msg, "port 80 is already redirected by another mirrord agent") {
		t.Fatalf("want the conflict named in the second session's output, got exit %d:\n%s", second.cmd.ProcessState.ExitCode(), msg)
	}
	body, err := get(context.Background(), c.httpClient(false), c.web("/still-first"), nil)
	if err != nil || body != "LOCAL first /still-first\n" {
		t.Fatalf("the first session lost the port: %q %v", body, err)
	}
	first.stop()
	t.Logf("second session: %s", lastLine(msg))
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
