package layer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/mirrord-go/mirrord/layer"
	"github.com/mirrord-go/mirrord/schema"
)

// bootstrapSO compiles layer/bootstrap/c/bootstrap.c as make does, so the
// tests exercise the current source whether or not make ran.
func bootstrapSO(t testing.TB) string {
	need(t, "gcc")
	return buildOnceNamed(t, "bootstrap.so", func(out string) *exec.Cmd {
		return exec.Command("gcc", "-O2", "-fPIC", "-shared", "-nostdlib", "-ffreestanding", "-fno-stack-protector",
			"-fno-builtin", "-fno-tree-loop-distribute-patterns", "-Wall", "-Werror", "-o", out, "bootstrap/c/bootstrap.c")
	})
}

// served is a Server on the fake agent, serving in the background.
type served struct {
	srv   *layer.Server
	joins atomic.Int32
	done  chan error
	stop  context.CancelFunc
}

func (w *world) serve(t *testing.T, o layer.ServeOptions) *served {
	t.Helper()
	if o.Session == nil {
		o.Session = w.agent.start(t)
	}
	if !o.Features.Hostname {
		o.Features = defaultFeatures()
	}
	// t.TempDir's long names do not fit a unix socket path.
	dir, err := os.MkdirTemp("", "mrd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	o.Dir = dir
	o.BootstrapPath = bootstrapSO(t)
	o.Logger = quiet
	sv := &served{done: make(chan error, 1)}
	o.OnJoin = func(int) { sv.joins.Add(1) }
	srv, err := layer.Listen(o)
	if err != nil {
		t.Fatal(err)
	}
	sv.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	sv.stop = cancel
	go func() { sv.done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-sv.done
	})
	return sv
}

// launch runs argv with the session's env, as an IDE would: not through
// mirrord, just with the env the runner printed.
func (sv *served) launch(t *testing.T, w *world, argv ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = w.tmp
	cmd.Env = append(os.Environ(), "HOME="+w.home)
	for k, v := range sv.srv.Env(os.Getenv("LD_PRELOAD")) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if _, ok := err.(*exec.ExitError); ok {
		err = nil
	}
	return result{out: out.String(), code: code, err: err}
}

func TestServe(t *testing.T) {
	w := newWorld(t)
	probe := goProbe(t)
	sh := need(t, "sh")
	tests := []struct {
		name  string
		argv  []string
		want  string
		joins int32
	}{
		{"dynamic program", []string{"cat", "/app/test.txt"}, "hello from the pod", 1},
		{"hostname", []string{"hostname"}, "fake-pod-7d9f", 1},
		{"static Go child of a dynamic parent", []string{sh, "-c", probe + " read /app/test.txt && " + probe + " get web:80"}, "body=hello from web", 1},
		// The inner sh and cat preload the bootstrap again; the probe tells
		// them they are supervised already, so only the outer sh joins.
		{"second bootstrap in the tree", []string{sh, "-c", sh + " -c 'cat /app/test.txt; hostname'"}, "hello from the pod\nfake-pod-7d9f", 1},
		{"python resolves the pod's names", []string{"/usr/bin/python3", "-c", "import socket; print(socket.gethostbyname('web'))"}, "127.0.0.77", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sv := w.serve(t, layer.ServeOptions{})
			r := sv.launch(t, w, tt.argv...)
			r.expect(t, tt.want)
			if got := sv.joins.Load(); got != tt.joins {
				t.Errorf("%d processes joined, want %d", got, tt.joins)
			}
		})
	}
}

func TestServeSkipProcesses(t *testing.T) {
	w := newWorld(t)
	probe := goProbe(t)
	sh := need(t, "sh")
	sv := w.serve(t, layer.ServeOptions{Skip: layer.SkipNames(&schema.Config{SkipProcesses: schema.StringList{"cat"}, SkipBuildTools: true})})
	// cat is skipped: it reads the local disk, where /app/test.txt does not
	// exist; its sibling (a forked sh that execs the probe) is not.
	r := sv.launch(t, w, sh, "-c", "cat /app/test.txt; "+probe+" read /app/test.txt")
	if !strings.Contains(r.out, "cat: /app/test.txt: No such file or directory") || !strings.Contains(r.out, "hello from the pod") {
		t.Fatalf("output:\n%s\nwant cat to read locally and the probe remotely", r.out)
	}
	// A program that a skipped image execs is decided again (upstream
	// loads its layer per image): sh is skipped, the cat it starts is not.
	sv = w.serve(t, layer.ServeOptions{Skip: []string{"sh"}})
	sv.launch(t, w, sh, "-c", "cat /app/test.txt; true").expect(t, "hello from the pod")
}

func TestServeLifetime(t *testing.T) {
	w := newWorld(t)
	t.Run("all processes exited", func(t *testing.T) {
		sv := w.serve(t, layer.ServeOptions{Grace: 200 * time.Millisecond})
		sv.launch(t, w, "true").expect(t, "")
		select {
		case err := <-sv.done:
			sv.done <- err
			if err != nil {
				t.Fatalf("Serve: %v, want nil after the last process exited", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve still running 5 s after the last process exited (grace 200 ms)")
		}
	})
	t.Run("no process joined", func(t *testing.T) {
		sv := w.serve(t, layer.ServeOptions{StartTimeout: 300 * time.Millisecond, StartTimeoutKey: "--start-timeout"})
		select {
		case err := <-sv.done:
			sv.done <- err
			if !errors.Is(err, layer.ErrNoProcessJoined) || !strings.Contains(err.Error(), "--start-timeout") {
				t.Fatalf("Serve: %v, want ErrNoProcessJoined naming --start-timeout", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve still running 5 s after the start timeout (300 ms)")
		}
		if _, err := os.Stat(sv.srv.Socket()); !os.IsNotExist(err) {
			t.Errorf("socket %s left behind: %v", sv.srv.Socket(), err)
		}
	})
	t.Run("session gone: the program fails clearly", func(t *testing.T) {
		sv := w.serve(t, layer.ServeOptions{})
		sv.stop()
		<-sv.done
		sv.done <- nil
		r := sv.launch(t, w, "cat", "/app/test.txt")
		if r.code != 111 || !strings.Contains(r.out, "cannot reach the mirrord session") || strings.Count(r.out, "\n") != 1 {
			t.Fatalf("exit %d, output:\n%s\nwant exit 111 and one line naming the session", r.code, r.out)
		}
	})
	t.Run("runner stops while the program runs: no hang", func(t *testing.T) {
		sv := w.serve(t, layer.ServeOptions{})
		go func() {
			time.Sleep(500 * time.Millisecond)
			sv.stop()
		}()
		start := time.Now()
		r := sv.launch(t, w, "sh", "-c", "sleep 1.5; cat /app/test.txt")
		if r.code == 0 || !strings.Contains(r.out, "Function not implemented") || !strings.Contains(r.out, "mirrord session this program runs in ended") ||
			time.Since(start) > 10*time.Second {
			t.Fatalf("exit %d after %s, output:\n%s\nwant cat to fail with ENOSYS at once", r.code, time.Since(start), r.out)
		}
	})
	t.Run("stale token", func(t *testing.T) {
		sv := w.serve(t, layer.ServeOptions{})
		cmd := exec.Command("true")
		for k, v := range sv.srv.Env("") {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Env = append(cmd.Env, layer.EnvToken+"=not-this-one")
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 111 || !strings.Contains(string(out), "refused this process") {
			t.Fatalf("exit %d, output %s", cmd.ProcessState.ExitCode(), out)
		}
	})
}

func TestBootstrapWithoutSession(t *testing.T) {
	so := bootstrapSO(t)
	tests := []struct {
		name string
		env  []string
		code int
		want string
	}{
		{"no socket variable: nothing to do", nil, 0, ""},
		{"socket gone", []string{layer.EnvSocket + "=" + filepath.Join(t.TempDir(), "gone.sock")}, 111, "cannot reach the mirrord session"},
		{"socket gone, continue", []string{layer.EnvSocket + "=/nonexistent/x.sock", layer.EnvOnError + "=continue"}, 0, "running WITHOUT mirrord"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("true")
			cmd.Env = append([]string{"LD_PRELOAD=" + so}, tt.env...)
			out, _ := cmd.CombinedOutput()
			if cmd.ProcessState.ExitCode() != tt.code || !strings.Contains(string(out), tt.want) {
				t.Fatalf("exit %d, output %q; want %d and %q", cmd.ProcessState.ExitCode(), out, tt.code, tt.want)
			}
		})
	}
}

// localDNS is a stand-in for this machine's nameserver: it answers every
// A query with 127.0.0.99.
func localDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true})
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}, dnsmessage.AResource{A: [4]byte{127, 0, 0, 99}})
			}
			out, _ := b.Finish()
			_, _ = pc.WriteTo(out, from)
		}
	}()
	return pc.LocalAddr().String()
}

func TestServeDNSFilter(t *testing.T) {
	w := newWorld(t)
	probe := goProbe(t)
	cprobe := cProbe(t)
	ns := localDNS(t)
	tests := []struct {
		name   string
		filter schema.TrafficFilter
		host   string
		want   string
	}{
		{"local: listed name", schema.TrafficFilter{Local: schema.StringList{"web"}}, "web", "127.0.0.99"},
		{"local: other names remote", schema.TrafficFilter{Local: schema.StringList{"web"}}, "kubernetes.default.svc.cluster.local", "127.0.0.78"},
		{"remote: listed name", schema.TrafficFilter{Remote: schema.StringList{"web"}}, "web", "127.0.0.77"},
		{"remote: other names local", schema.TrafficFilter{Remote: schema.StringList{"web"}}, "kubernetes.default.svc.cluster.local", "127.0.0.99"},
	}
	for _, tt := range tests {
		for _, prog := range []string{probe, cprobe} {
			t.Run(tt.name+"/"+filepath.Base(prog), func(t *testing.T) {
				feat := defaultFeatures()
				f := tt.filter
				feat.Network.DNS.Filter = &f
				sv := w.serve(t, layer.ServeOptions{Features: feat, LocalDNS: ns})
				// Through sh: a static binary started directly ignores LD_PRELOAD.
				sv.launch(t, w, "sh", "-c", prog+" resolve "+tt.host).expect(t, tt.want)
			})
		}
	}
}

func TestServeUnixStreams(t *testing.T) {
	w := newWorld(t)
	// The "pod's" socket is a local one the fake agent dials.
	sockDir, err := os.MkdirTemp("", "mrdu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	podSock := filepath.Join(sockDir, "pod.sock")
	ln, err := net.Listen("unix", podSock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			fmt.Fprintf(c, "pod socket got %s", buf[:n])
			c.Close()
		}
	}()
	w.agent.unix = map[string]string{"/run/mirrord-test/pod.sock": podSock}
	client := `import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect:", e.strerror); sys.exit(1)
s.sendall(b"ping"); print(s.recv(100).decode())`
	tests := []struct {
		name    string
		streams schema.StringList
		path    string
		want    string
		fail    bool
	}{
		{"matching path goes to the pod", schema.StringList{`^/run/mirrord-test/.*\.sock$`}, "/run/mirrord-test/pod.sock", "pod socket got ping", false},
		{"other paths stay local", schema.StringList{`^/run/mirrord-test/`}, podSock, "pod socket got ping", false},
		{"no unix_streams: local", nil, "/run/mirrord-test/pod.sock", "No such file or directory", true},
		{"missing in the pod", schema.StringList{`^/run/mirrord-test/`}, "/run/mirrord-test/other.sock", "connect:", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			feat := defaultFeatures()
			feat.Network.Outgoing.UnixStreams = tt.streams
			sv := w.serve(t, layer.ServeOptions{Features: feat})
			r := sv.launch(t, w, "/usr/bin/python3", "-c", client, tt.path)
			if tt.fail {
				r.expectFail(t, tt.want)
			} else {
				r.expect(t, tt.want)
			}
		})
	}
}
