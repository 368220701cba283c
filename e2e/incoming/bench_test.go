//go:build e2e

package incoming_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The figures of issue 6 (make bench-incoming), from the same client
// workload: W keep-alive HTTP/1.1 connections sending GETs in a loop.
//
//   - BenchmarkStealHTTP: client pod -> web Service -> agent (steal) ->
//     API-server port-forward -> the local app in the laptop netns.
//   - BenchmarkKubectlPortForwardHTTP: the laptop -> kubectl port-forward
//     -> the pod's app: the same tunnel, the other way, no mirrord.
//   - BenchmarkPodHTTP and BenchmarkPodMirroredHTTP: client pod -> web
//     Service -> the pod's app, without and with a mirror session, one
//     request at a time: the latency mirror mode adds to the pod's own
//     answers.
//
// Each reports req/s and p50/p99 latency in ms. A session is started once
// per benchmark (outside the timer), not once per b.N round.

const benchWorkers = 8

type benchSetup struct {
	// workers is the client's concurrency; 0 is benchWorkers.
	workers int
	// pace is the pause between a worker's requests.
	pace    time.Duration
	once    sync.Once
	err     error
	url     string
	client  func() *http.Client
	cleanup func()
}

var (
	setupsMu sync.Mutex
	setups   = map[string]*benchSetup{}
)

// shared returns the named setup, made once per test binary; TestMain's
// cleanupBench undoes them.
func shared(name string, make func(s *benchSetup) error) (*benchSetup, error) {
	setupsMu.Lock()
	s := setups[name]
	if s == nil {
		// Benchmarks run one after the other: the previous one's session
		// must not steal or mirror this one's traffic.
		for n, o := range setups {
			if o.cleanup != nil {
				o.cleanup()
			}
			delete(setups, n)
		}
		s = &benchSetup{}
		setups[name] = s
	}
	setupsMu.Unlock()
	s.once.Do(func() { s.err = make(s) })
	return s, s.err
}

func cleanupBench() {
	setupsMu.Lock()
	defer setupsMu.Unlock()
	for _, s := range setups {
		if s.cleanup != nil {
			s.cleanup()
		}
	}
}

// run sends b.N GETs over benchWorkers keep-alive connections and reports
// the figures.
func (s *benchSetup) run(b *testing.B, wantPrefix string) {
	b.Helper()
	lat := make([]time.Duration, b.N)
	var next int
	var mu sync.Mutex
	var firstErr error
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	workers := s.workers
	if workers == 0 {
		workers = benchWorkers
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := s.client()
			defer hc.CloseIdleConnections()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= b.N {
					return
				}
				if s.pace > 0 {
					time.Sleep(s.pace)
				}
				r0 := time.Now()
				body, err := get(context.Background(), hc, s.url, nil)
				lat[i] = time.Since(r0)
				if err == nil && !strings.HasPrefix(body, wantPrefix) {
					err = fmt.Errorf("unexpected answer %q", body)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0) - time.Duration(b.N/workers)*s.pace
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}

// benchApp starts a long-lived session for a benchmark: mirrord exec of
// the local server with cfg. It cannot use t.Cleanup (the benchmark
// function runs several times), so it returns its own stop.
func benchApp(b *testing.B, c *cluster, cfg string) func() {
	p := server(b)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := c.e.Mirrord(b, ctx, "exec", "-f", cfg, "--", p, "-addr", ":80")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		cancel()
	}
}

func benchCluster(b *testing.B) *cluster {
	b.Helper()
	return getCluster(b)
}

func BenchmarkStealHTTP(b *testing.B) {
	c := benchCluster(b)
	s, err := shared("steal", func(s *benchSetup) error {
		cfg := writeBenchConfig(b, webConfig(c.e, `{"mode":"steal"}`))
		stop := benchApp(b, c, cfg)
		s.cleanup = func() { stop(); os.Remove(cfg) }
		s.url, s.client = c.web("/bench"), func() *http.Client { return c.httpClient(true) }
		return waitAnswer(s, "LOCAL")
	})
	if err != nil {
		b.Fatal(err)
	}
	s.run(b, "LOCAL")
}

func BenchmarkKubectlPortForwardHTTP(b *testing.B) {
	c := benchCluster(b)
	s, err := shared("kubectl", func(s *benchSetup) error {
		pod := c.webPod(b)
		ctx, cancel := context.WithCancel(context.Background())
		cmd := c.e.LaptopKubectl(ctx, "-n", c.e.Namespace, "port-forward", "pod/"+pod.Name, "18085:80")
		if err := cmd.Start(); err != nil {
			cancel()
			return err
		}
		s.cleanup = func() { cancel(); _ = cmd.Wait() }
		s.url = "http://127.0.0.1:18085/bench"
		s.client = func() *http.Client {
			return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
				MaxIdleConnsPerHost: 16,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					return c.e.LaptopDial(ctx, network, addr)
				},
			}}
		}
		return waitAnswer(s, "GET from pod")
	})
	if err != nil {
		b.Fatal(err)
	}
	s.run(b, "GET from pod")
}

func BenchmarkPodHTTP(b *testing.B) {
	c := benchCluster(b)
	s, _ := shared("pod", func(s *benchSetup) error {
		s.workers, s.pace = 1, 5*time.Millisecond // latency, not saturation: see BenchmarkPodMirroredHTTP
		s.url, s.client = c.web("/bench"), func() *http.Client { return c.httpClient(true) }
		return nil
	})
	s.run(b, "GET from pod")
}

func BenchmarkPodMirroredHTTP(b *testing.B) {
	c := benchCluster(b)
	s, err := shared("mirror", func(s *benchSetup) error {
		// One request at a time, 5 ms apart: on this 2-core machine a
		// back-to-back load measures the CPU the copies' delivery (agent,
		// port-forward, mirrord, the local app: all on the same cores)
		// takes from the pod, not the latency the mirror adds to its path.
		s.workers, s.pace = 1, 5*time.Millisecond
		cfg := writeBenchConfig(b, webConfig(c.e, `{"mode":"mirror"}`))
		stop := benchApp(b, c, cfg)
		s.cleanup = func() { stop(); os.Remove(cfg) }
		s.url, s.client = c.web("/bench"), func() *http.Client { return c.httpClient(true) }
		// The mirror is up once the agent has a sniffer: give the session
		// its start-up time, then check the pod still answers.
		time.Sleep(5 * time.Second)
		return waitAnswer(s, "GET from pod")
	})
	if err != nil {
		b.Fatal(err)
	}
	s.run(b, "GET from pod")
}

// waitAnswer polls the setup's URL until the answer starts with prefix.
func waitAnswer(s *benchSetup, prefix string) error {
	hc := s.client()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		body, err := get(ctx, hc, s.url, nil)
		cancel()
		if err == nil && strings.HasPrefix(body, prefix) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no answer starting %q within 60s (last %q %v)", s.url, prefix, body, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeBenchConfig writes a config that outlives the benchmark round
// (b.TempDir would be removed while the shared session still runs).
func writeBenchConfig(b *testing.B, body string) string {
	f, err := os.CreateTemp("", "mirrord-bench-*.json")
	if err == nil {
		_, err = f.WriteString(body)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		b.Fatal(err)
	}
	return f.Name()
}
