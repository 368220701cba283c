//go:build e2e

package incoming_test

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// TestStealLanguageMatrix steals the web pod's port 80 into a real HTTP
// server of each runtime (testdata/<lang>): the answer through the Service
// must come from that runtime, and the peer its accept() reported must be
// the client pod. After SIGTERM the pod answers again and no rule is left.
// The rows run one after another: one steal session at a time.
func TestStealLanguageMatrix(t *testing.T) {
	c := getCluster(t)
	rows := []struct {
		lang string
		argv func(t *testing.T) []string
		// start bounds the time from `mirrord exec` to the first stolen
		// answer; the JVM starts slowest.
		start time.Duration
	}{
		{"go-static", func(t *testing.T) []string { return []string{matrixGo(t, false), "go-static"} }, 60 * time.Second},
		{"go-cgo", func(t *testing.T) []string { return []string{matrixGo(t, true), "go-cgo"} }, 60 * time.Second},
		{"python", func(t *testing.T) []string {
			return []string{realPython(t), "-u", testdataFile(t, "python/server.py")}
		}, 60 * time.Second},
		{"node", func(t *testing.T) []string {
			return []string{runtimeTool(t, "node", "Node.js"), testdataFile(t, "node/server.js")}
		}, 60 * time.Second},
		{"java", func(t *testing.T) []string {
			return []string{runtimeTool(t, "java", "the JDK"), "-cp", matrixJava(t), "Server"}
		}, 90 * time.Second},
	}
	for _, row := range rows {
		t.Run(row.lang, func(t *testing.T) {
			tb := time.Now()
			argv := row.argv(t)
			built := time.Since(tb)
			t0 := time.Now()
			app := startApp(t, c.e, writeConfig(t, webConfig(c.e, `{"mode":"steal"}`)), argv...)
			c.waitLocal(t, "/matrix-warm-"+row.lang, nil, row.start)
			ready := time.Since(t0)

			path := "/matrix-" + row.lang + "-" + nonce()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			body, err := get(ctx, c.httpClient(false), c.web(path), nil)
			cancel()
			want := fmt.Sprintf("LOCAL %s %s peer=", row.lang, path)
			if err != nil || !strings.HasPrefix(body, want) {
				t.Fatalf("want the %s server's answer %q..., got %q %v", row.lang, want, body, err)
			}
			rawPeer := strings.TrimSpace(strings.TrimPrefix(body, want))
			if peer := strings.TrimPrefix(rawPeer, "::ffff:"); peer != c.clientIP {
				t.Errorf("%s's accept() gave the peer %q, want the client pod %s", row.lang, rawPeer, c.clientIP)
			}
			if reqs := app.requests(path); len(reqs) != 1 || reqs[0].Peer != rawPeer {
				t.Errorf("the %s server logged %+v for %s, want one request from %s", row.lang, reqs, path, rawPeer)
			}
			ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			hz, err := get(ctx, c.httpClient(false), c.web("/healthz"), nil)
			cancel()
			if err != nil || !strings.HasPrefix(hz, "LOCAL "+row.lang+" /healthz ") {
				t.Fatalf("GET /healthz: want the %s server's 200, got %q %v", row.lang, hz, err)
			}

			t1 := time.Now()
			app.stop()
			stopped := time.Since(t1)
			back := c.podServes(t, 30*time.Second)
			t2 := time.Now()
			c.noRules(t, 15*time.Second)
			clean := time.Since(t2)
			t.Logf("%s: peer=%s; build %s; first stolen answer %s after mirrord exec; mirrord exited %s after SIGTERM, the pod answers again %s later, no rule left %s later; %d kubelet probes stolen",
				row.lang, rawPeer, built.Round(time.Millisecond), ready.Round(time.Millisecond), stopped.Round(time.Millisecond),
				back.Round(time.Millisecond), clean.Round(time.Millisecond), len(app.requests("/healthz"))-1)
		})
	}
}

var (
	matrixMu     sync.Mutex
	matrixBuilds = map[string]string{}
	matrixDir    string
)

// matrixBuild runs a build once per test binary and returns out, a path
// in a temp dir that TestMain leaves (like serverBinary's).
func matrixBuild(t *testing.T, key string, newCmd func(out string) *exec.Cmd) string {
	t.Helper()
	matrixMu.Lock()
	defer matrixMu.Unlock()
	if p, ok := matrixBuilds[key]; ok {
		return p
	}
	if matrixDir == "" {
		d, err := os.MkdirTemp("", "mirrord-e2e-matrix-")
		if err != nil {
			t.Fatal(err)
		}
		matrixDir = d
	}
	out := filepath.Join(matrixDir, key)
	if b, err := newCmd(out).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", key, err, b)
	}
	matrixBuilds[key] = out
	return out
}

// matrixGo builds testdata/go static (CGO_ENABLED=0) or dynamically
// linked against libc with the cgo resolver (CGO_ENABLED=1 -tags netcgo),
// and checks from the ELF that the build is what the row claims.
func matrixGo(t *testing.T, cgo bool) string {
	t.Helper()
	key, env, args := "go-static", "CGO_ENABLED=0", []string{"build"}
	if cgo {
		key, env, args = "go-cgo", "CGO_ENABLED=1", []string{"build", "-tags", "netcgo"}
	}
	bin := matrixBuild(t, key, func(out string) *exec.Cmd {
		cmd := exec.Command(e2eenv.GoTool(), append(args, "-o", out, ".")...)
		cmd.Dir = testdataFile(t, "go")
		cmd.Env = append(os.Environ(), env)
		return cmd
	})
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	libs, _ := f.ImportedLibraries()
	libc := false
	for _, l := range libs {
		libc = libc || strings.HasPrefix(l, "libc.so")
	}
	switch {
	case cgo && (interp == "" || !libc):
		t.Fatalf("%s: want a dynamically linked binary (interpreter %q, libraries %v): is a C compiler installed? `make deps` installs gcc", key, interp, libs)
	case !cgo && interp != "":
		t.Fatalf("%s: want a static binary, it has the interpreter %q", key, interp)
	}
	return bin
}

// matrixJava compiles testdata/java/Server.java and returns the class
// directory.
func matrixJava(t *testing.T) string {
	t.Helper()
	javac := runtimeTool(t, "javac", "the JDK")
	return matrixBuild(t, "java", func(out string) *exec.Cmd {
		return exec.Command(javac, "-d", out, testdataFile(t, "java/Server.java"))
	})
}

// runtimeTool finds a runtime's command; a missing one fails the row.
func runtimeTool(t *testing.T, name, what string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is needed for this row (%s; `make deps` installs it): %v", name, what, err)
	}
	return p
}

// realPython is the interpreter itself rather than a version manager's
// shim script, so the row runs Python under mirrord and not a shell.
func realPython(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(runtimeTool(t, "python3", "Python"), "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("python3 is needed for this row (`make deps` installs it): %v", err)
	}
	return strings.TrimSpace(string(out))
}

func testdataFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
