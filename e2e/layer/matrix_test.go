//go:build e2e

package layer_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// The columns of the matrix. Each row's program performs the cells named
// on its command line and prints "CELL <name> OK|ERR <value>".
var cells = []string{"read", "list", "stat", "kube", "http", "udp", "resolve-web", "resolve-k8s", "hostname", "peer"}

// row is one runtime: how to start its probe, and the cells it cannot
// express, with the reason (listed, never silently dropped).
type row struct {
	name string
	argv func(t *testing.T) []string
	env  []string
	na   map[string]string
}

func rows() []row {
	return []row{
		{name: "go-static", argv: func(t *testing.T) []string { return []string{goProbe(t, false)} }},
		{name: "go-cgo", argv: func(t *testing.T) []string { return []string{goProbe(t, true)} }, env: []string{"GODEBUG=netdns=cgo"}},
		{name: "python3", argv: func(t *testing.T) []string {
			return []string{python(t), repoFile(t, "testdata/python/probe.py")}
		}},
		{name: "node", argv: func(t *testing.T) []string { return []string{"node", repoFile(t, "testdata/node/probe.js")} }},
		{name: "java", argv: func(t *testing.T) []string { return []string{"java", "-cp", javaProbe(t), "Probe"} }},
		{name: "curl", argv: func(t *testing.T) []string { return []string{"bash", repoFile(t, "testdata/curl/probe.sh")} },
			na: map[string]string{
				"list":     "curl 7.88's file:// prints nothing for a directory",
				"hostname": "curl has no way to print the machine's hostname",
			}},
		{name: "bash", argv: func(t *testing.T) []string {
			return []string{"bash", "-c", `exec bash "$0" "$@"`, repoFile(t, "testdata/bash/probe.sh")}
		}},
	}
}

// check says whether one cell's result is right.
func (f facts) check(cell string, r cellResult) error {
	want := func(ok bool, cond bool, what string) error {
		if r.ok != ok || !cond {
			return fmt.Errorf("got ok=%v %q, want %s", r.ok, r.value, what)
		}
		return nil
	}
	switch cell {
	case "read":
		return want(true, r.value == strings.TrimSpace(sample.TestFileText), "the pod's /app/test.txt")
	case "list":
		return want(true, strings.Contains(","+r.value+",", ",test.txt,"), "a listing of the pod's /app with test.txt")
	case "stat":
		size := fmt.Sprint(len(sample.TestFileText))
		return want(true, r.value == size || strings.Contains(r.value, "Content-Length: "+size), "the remote size "+size)
	case "kube":
		v := strings.ToLower(r.value)
		return want(false, strings.Contains(v, "no such file") || strings.Contains(v, "nosuchfile") ||
			strings.Contains(v, "enoent") || strings.Contains(v, "couldn't open file"), "not found (the local file exists)")
	case "http":
		return want(true, strings.HasPrefix(r.value, "GET from pod internal-only-"), "internal-only's answer")
	case "udp":
		return want(true, r.value == "sent", "sent (the logger's log is checked after)")
	case "resolve-web":
		return want(true, r.value == f.webIP, "web's ClusterIP "+f.webIP)
	case "resolve-k8s":
		return want(true, r.value == f.kubernetesIP, "kubernetes' ClusterIP "+f.kubernetesIP)
	case "hostname":
		return want(true, r.value == f.podName, "the pod's name "+f.podName)
	case "peer":
		return want(true, r.value == f.internalIP+":80", "internal-only's ClusterIP "+f.internalIP+":80")
	}
	return fmt.Errorf("unknown cell %s", cell)
}

// TestRuntimeMatrix runs every row's probe three times under mirrord exec
// against deploy/web: with the defaults (every cell), with outgoing
// traffic off (HTTP must fail) and with DNS off (resolving must fail).
func TestRuntimeMatrix(t *testing.T) {
	e := e2eenv.Get(t)
	f := clusterFacts(t, e)
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The local file exists: "not found" must come from the default
	// not-found set, not from its absence.
	if err := os.WriteFile(filepath.Join(home, ".kube", "config"), []byte("local kubeconfig\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// HOME is a temp dir, so the Python installed under the real home
	// (pyenv) is no longer in the default local set: say it is local, as
	// a user whose interpreter lives in an unusual place would.
	pyLocal := fmt.Sprintf(`"local":[%q]`, "^"+regexp.QuoteMeta(pythonPrefix(t)))
	base := writeConfig(t, "base.json", `{"feature":{"fs":{`+pyLocal+`}}}`)
	outgoingOff := writeConfig(t, "outgoing-off.json", `{"feature":{"fs":{`+pyLocal+`},"network":{"outgoing":false}}}`)
	dnsOff := writeConfig(t, "dns-off.json", `{"feature":{"fs":{`+pyLocal+`},"network":{"dns":false}}}`)

	for _, rw := range rows() {
		t.Run(rw.name, func(t *testing.T) {
			argv := rw.argv(t)
			token := "mirrord-matrix-" + rw.name + "-" + randHex(t)
			env := append([]string{"HOME=" + home, "PROBE_TOKEN=" + token, "PROBE_PY=" + repoFile(t, "testdata/python/probe.py"), "PROBE_PYTHON=" + python(t)}, rw.env...)
			var want []string
			for _, c := range cells {
				if _, na := rw.na[c]; !na {
					want = append(want, c)
				}
			}
			r := mirrord(t, e, env, execArgs(e, base, append(argv, want...)...)...)
			got := cellLines(r.stdout)
			for _, c := range want {
				if err := f.check(c, got[c]); err != nil {
					t.Errorf("%s/%s: %v", rw.name, c, err)
				}
			}
			if t.Failed() {
				t.Logf("run: %s", r)
			}
			if got["udp"].ok {
				e.Poll(t, 15*time.Second, "udp-logger logging "+token, func(ctx context.Context) error {
					logs, err := podLogs(ctx, e, "udp-logger")
					if err != nil {
						return err
					}
					if !strings.Contains(logs, token) {
						return fmt.Errorf("no datagram with %s in udp-logger's log", token)
					}
					return nil
				})
			}

			t.Run("outgoing off", func(t *testing.T) {
				r := mirrord(t, e, env, execArgs(e, outgoingOff, append(argv, "http")...)...)
				if got, ran := cellLines(r.stdout)["http"]; !ran || got.ok {
					t.Errorf("HTTP to internal-only with outgoing off: ok=%v %q, want a failure (the laptop cannot reach it)\n%s", got.ok, got.value, r)
				}
			})
			t.Run("dns off", func(t *testing.T) {
				r := mirrord(t, e, env, execArgs(e, dnsOff, append(argv, "resolve-web")...)...)
				if got, ran := cellLines(r.stdout)["resolve-web"]; !ran || got.ok {
					t.Errorf("resolving web with DNS off: ok=%v %q, want a failure\n%s", got.ok, got.value, r)
				}
			})
		})
	}
}

func randHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
