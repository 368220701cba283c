package layer_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/layer"
	"github.com/mirrord-go/mirrord/schema"
)

// The test binary doubles as the mirrord binary (the trampoline) and as
// helper programs selected by an environment variable.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == layer.TrampolineMarker {
		os.Exit(layer.TrampolineMain(os.Args[2:]))
	}
	if h := os.Getenv(helperEnv); h != "" {
		os.Exit(runHelper(h, os.Args[1:]))
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

const helperEnv = "MIRRORD_LAYER_TEST_HELPER"

var (
	buildOnce sync.Map // name → *sync.Once-guarded result
	buildDir  string
	buildMu   sync.Mutex
)

type built struct {
	once sync.Once
	path string
	err  error
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

func binDir(t testing.TB) string {
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildDir == "" {
		d, err := os.MkdirTemp("", "mirrord-layer-test-bin-")
		if err != nil {
			t.Fatal(err)
		}
		buildDir = d
	}
	return buildDir
}

// buildOnceNamed builds a test program once per test binary run.
func buildOnceNamed(t testing.TB, name string, build func(out string) *exec.Cmd) string {
	t.Helper()
	v, _ := buildOnce.LoadOrStore(name, &built{})
	b := v.(*built)
	b.once.Do(func() {
		b.path = filepath.Join(binDir(t), name)
		cmd := build(b.path)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v\n%s", name, err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// goProbe is testdata/goprobe built as a static binary.
func goProbe(t testing.TB) string {
	return buildOnceNamed(t, "goprobe", func(out string) *exec.Cmd {
		cmd := exec.Command(goTool(), "build", "-o", out, "./testdata/goprobe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		return cmd
	})
}

// cProbe is testdata/cprobe.c built against glibc.
func cProbe(t testing.TB) string {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Fatal("gcc is not installed: the layer's runtime tests need it (make deps installs it)")
	}
	return buildOnceNamed(t, "cprobe", func(out string) *exec.Cmd {
		return exec.Command("gcc", "-O2", "-o", out, "testdata/cprobe.c")
	})
}

func need(t testing.TB, tool string) string {
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s is not installed: the layer's runtime tests need it (make deps installs it)", tool)
	}
	return p
}

// world is one fake pod with its services, plus the local side.
type world struct {
	agent *fakeAgent
	// web is the HTTP server the pod's "web" service stands for.
	web  *http.Server
	addr string
	home string
	tmp  string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from web")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w := &world{agent: newFakeAgent(), web: srv, addr: ln.Addr().String(), home: t.TempDir(), tmp: t.TempDir()}
	w.agent.tcp["127.0.0.77:80"] = w.addr
	w.agent.tcp["127.0.0.78:443"] = w.addr
	// A local kube config the program must not see.
	if err := os.MkdirAll(filepath.Join(w.home, ".kube"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.home, ".kube", "config"), []byte("local secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

func defaultFeatures() schema.FeatureConfig { return schema.Default().Feature }

type result struct {
	out  string
	code int
	err  error
}

// run runs argv under the layer in w, with feat.
func (w *world) run(t *testing.T, feat schema.FeatureConfig, argv ...string) result {
	t.Helper()
	client := w.agent.start(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	env := append(os.Environ(), "HOME="+w.home)
	code, err := layer.Exec(ctx, layer.ExecOptions{
		Argv: argv, Env: env, Dir: w.tmp, Session: client, Features: feat,
		Stdio: layer.Stdio{Out: &out, Err: &out}, Self: self,
	})
	return result{out: out.String(), code: code, err: err}
}

func (r result) expect(t *testing.T, want string) {
	t.Helper()
	if r.err != nil || r.code != 0 || !strings.Contains(r.out, want) {
		t.Errorf("exit %d, err %v, output:\n%s\nwant it to contain %q", r.code, r.err, r.out, want)
	}
}

func (r result) expectFail(t *testing.T, want string) {
	t.Helper()
	if r.err != nil || r.code == 0 || !strings.Contains(r.out, want) {
		t.Errorf("exit %d, err %v, output:\n%s\nwant a failure containing %q", r.code, r.err, r.out, want)
	}
}
