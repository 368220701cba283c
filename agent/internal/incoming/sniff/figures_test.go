//go:build linux

package sniff

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/internal/testns"
)

// raceEnabled is set by race_test.go.
var raceEnabled bool

// childEnv makes the test binary the transfer process of
// TestThroughputFigures instead of running tests.
const childEnv = "SNIFF_TRANSFER_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(transferChild())
	}
	os.Exit(m.Run())
}

// transferChild is the "pod": a server and a client in one process, on
// loopback. It prints its port, waits for "go <count> <size>", sends
// count connections of size bytes one after the other and prints the
// nanoseconds that took.
func transferChild() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("port %d\n", ln.Addr().(*net.TCPAddr).Port)
	var count, size int
	if _, err := fmt.Scanf("go %d %d\n", &count, &size); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	done := discardSink(ln)
	data := make([]byte, size)
	start := time.Now()
	for range count {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := c.Write(data); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		c.Close()
		if n := <-done; n != int64(size) {
			fmt.Fprintf(os.Stderr, "the server read %d bytes\n", n)
			return 1
		}
	}
	fmt.Printf("ns %d\n", time.Since(start).Nanoseconds())
	return 0
}

// pinThreads moves every thread of this process (and so the threads they
// start) to cpu, and returns the function that undoes it.
func pinThreads(t *testing.T, cpu int) func() {
	t.Helper()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	set := func(s *unix.CPUSet) {
		tids, _ := filepath.Glob("/proc/self/task/*")
		for _, p := range tids {
			tid, _ := strconv.Atoi(filepath.Base(p))
			_ = unix.SchedSetaffinity(tid, s)
		}
	}
	var one unix.CPUSet
	one.Set(cpu)
	set(&one)
	return func() { set(&old) }
}

// TestThroughputFigures prints what the sniffer costs the connection it
// copies: a loopback transfer in the target namespace, by a process
// pinned to CPU 0, with the sniffer (this process) pinned to CPU 1, so
// that the figures show the in-kernel cost of the tap on the original
// path rather than two programs fighting over the same cores
// (BenchmarkSniff shows that case). Run with -v to see them.
func TestThroughputFigures(t *testing.T) {
	if n := runtimeCPUs(); n < 2 {
		t.Fatalf("this test pins two processes to two CPUs; the machine has %d", n)
	}
	count, size, rounds := 4, 32<<20, 5
	if raceEnabled {
		count, size, rounds = 1, 4<<20, 1
	}
	n := testns.New(t)
	ns := netnsOf(n)

	measure := func(mode string) (mbps, copiedPct float64) {
		cmd := exec.Command("ip", "netns", "exec", n.Name, "taskset", "-c", "0", os.Args[0])
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stderr = os.Stderr
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer stdin.Close()
		out := bufio.NewScanner(stdout)
		var port uint16
		if !out.Scan() {
			t.Fatal("the transfer process printed no port")
		}
		fmt.Sscanf(out.Text(), "port %d", &port)

		var copied, closed atomic.Int64
		if mode != "none" {
			unpin := pinThreads(t, 1)
			defer unpin()
			s, err := Open(context.Background(), Options{NS: ns, Handler: func(Conn) io.WriteCloser {
				if mode == "stuck" {
					return &blockingWriter{cp: &capture{closed: make(chan struct{})}, closed: make(chan struct{})}
				}
				return countingWriter{&copied, &closed}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			s.Watch(port)
		}
		fmt.Fprintf(stdin, "go %d %d\n", count, size)
		if !out.Scan() {
			t.Fatal("the transfer process failed")
		}
		var ns int64
		fmt.Sscanf(out.Text(), "ns %d", &ns)
		for deadline := time.Now().Add(waitFor); mode == "watched" && closed.Load() < int64(count) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		return float64(count*size) / (float64(ns) / 1e9) / 1e6, float64(copied.Load()) / float64(count*size) * 100
	}
	// Rounds interleave the modes, and medians are reported, so that load
	// from other work on the machine weighs on each mode alike.
	modes := []string{"none", "watched", "stuck"}
	mbps := map[string][]float64{}
	pct := map[string][]float64{}
	for range rounds {
		for _, mode := range modes {
			m, p := measure(mode)
			mbps[mode] = append(mbps[mode], m)
			pct[mode] = append(pct[mode], p)
		}
	}
	if raceEnabled {
		t.Log("figures under the race detector are not meaningful")
	}
	t.Logf("loopback transfer, %d connections of %d MiB, median of %d rounds:", count, size>>20, rounds)
	t.Logf("no sniffer:                     %7.0f MB/s", median(mbps["none"]))
	t.Logf("sniffer copying the connection: %7.0f MB/s, %.1f%% of the bytes copied", median(mbps["watched"]), median(pct["watched"]))
	t.Logf("sniffer, consumer stuck:        %7.0f MB/s (its copy dropped at MaxBuffered)", median(mbps["stuck"]))
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func runtimeCPUs() int {
	var s unix.CPUSet
	if err := unix.SchedGetaffinity(0, &s); err != nil {
		return 0
	}
	return s.Count()
}

// discardSink serves ln until it is closed: each connection is read to
// its end, and the byte count is sent on the returned channel.
func discardSink(ln net.Listener) <-chan int64 {
	got := make(chan int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			got <- n
		}
	}()
	return got
}
