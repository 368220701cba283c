//go:build e2e

package ext

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

var versionLine = regexp.MustCompile(`^mirrord \d+\.\d+\.\d+\n`)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), ".mirrord", "mirrord.json")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestContract runs every command the plugins call, in each plugin's
// pattern, against the local cluster.
func TestContract(t *testing.T) {
	e := e2eenv.Get(t)
	ns := e.Namespace
	for _, ide := range ides {
		t.Run(ide.name, func(t *testing.T) {
			k := newKit(t, e, ide)
			t.Run("--version", func(t *testing.T) {
				r := k.call(t, nil, "--version")
				checkStderr(t, r.stderr)
				if r.code != 0 || !versionLine.MatchString(r.stdout) || r.took > 10*time.Second {
					t.Fatalf("--version: exit %d in %s, stdout %q", r.code, r.took, r.stdout)
				}
			})
			t.Run("ls", func(t *testing.T) {
				args, env := ide.lsArgs(ns)
				r := k.call(t, env, args...)
				var doc map[string]json.RawMessage
				oneDocument(t, r, &doc)
				for _, key := range []string{"targets", "current_namespace", "namespaces"} {
					if _, ok := doc[key]; !ok {
						t.Errorf("rich ls output lacks %q: %s", key, r.stdout)
					}
				}
				var targets []struct {
					Path      string `json:"path"`
					Available bool   `json:"available"`
				}
				var current string
				_ = json.Unmarshal(doc["targets"], &targets)
				_ = json.Unmarshal(doc["current_namespace"], &current)
				found := false
				for _, tg := range targets {
					found = found || (tg.Path == "deployment/web" && tg.Available)
				}
				if !found || current != ns {
					t.Errorf("ls: deployment/web available %v, current_namespace %q (want %q): %s", found, current, ns, r.stdout)
				}
			})
			t.Run("verify-config --ide", func(t *testing.T) {
				cases := []struct {
					name, body, want string
					pathSet          bool
				}{
					{"valid with a target", `{"target": {"path": "deploy/web", "namespace": "` + ns + `"}}`, "Success", true},
					{"invalid", `{"feature": {"fs": {"mode": "sideways"}}}`, "Fail", false},
					{"no target", `{"feature": {"env": true}}`, "Success", false},
				}
				for _, c := range cases {
					r := k.call(t, nil, "verify-config", "--ide", writeConfig(t, c.body))
					var doc struct {
						Type   string `json:"type"`
						Config *struct {
							Path json.RawMessage `json:"path"`
						} `json:"config"`
					}
					oneDocument(t, r, &doc)
					pathSet := doc.Config != nil && len(doc.Config.Path) > 0 && string(doc.Config.Path) != "null"
					if r.code != 0 || doc.Type != c.want || pathSet != c.pathSet {
						t.Errorf("%s: exit %d, type %q, target set %v; want exit 0, %s, %v\n%s", c.name, r.code, doc.Type, pathSet, c.want, c.pathSet, r.stdout)
					}
				}
			})
			t.Run("ext targetless", func(t *testing.T) {
				x := k.ext(t, nil, ide.targetless...)
				if x.final == nil || len(x.parseErrs) > 0 || x.exitCode != 0 {
					t.Fatalf("ext %v: exit %d, parse errors %v, lines %+v\nstderr: %s", ide.targetless, x.exitCode, x.parseErrs, x.lines, x.stderr)
				}
				out, code := k.launched(t, nil, x.final, "sh", "-c", "curl -sS -m 10 http://internal-only."+ns+".svc/")
				if code != 0 || !strings.Contains(out, "GET from pod internal-only") {
					t.Fatalf("targetless session: exit %d, output %q", code, out)
				}
			})
			t.Run("ext targeted by its config; -f wins over MIRRORD_CONFIG_FILE", func(t *testing.T) {
				cfg := writeConfig(t, `{"target": {"path": "deployment/web", "namespace": "`+ns+`"}}`)
				launch := map[string]string{"MIRRORD_CONFIG_FILE": "/nonexistent/other-mirrord.json"}
				x := k.ext(t, launch, "-f", cfg)
				if x.final == nil || len(x.parseErrs) > 0 || x.exitCode != 0 {
					t.Fatalf("ext -f: exit %d, parse errors %v, lines %+v\nstderr: %s", x.exitCode, x.parseErrs, x.lines, x.stderr)
				}
				out, code := k.launched(t, launch, x.final, "sh", "-c", `cat /app/test.txt; echo "var=$MIRRORD_FAKE_VAR_FIRST"`)
				if code != 0 || !strings.Contains(out, strings.TrimSpace(sample.TestFileText)) || !strings.Contains(out, "var="+sample.EnvFirstValue) {
					t.Fatalf("launched on deployment/web: exit %d, output %q", code, out)
				}
			})
			t.Run("ext with a missing target", func(t *testing.T) {
				start := time.Now()
				x := k.ext(t, map[string]string{"MIRRORD_TARGET_NAMESPACE": ns}, "-t", "deployment/nope")
				r := run{stderr: x.stderr.String(), code: x.exitCode}
				msg := singleError(t, r)
				if !strings.Contains(msg, "nope") || time.Since(start) > 10*time.Second || len(x.parseErrs) > 0 {
					t.Fatalf("missing target after %s: %q, parse errors %v", time.Since(start), msg, x.parseErrs)
				}
			})
		})
	}
}

var agentJobRe = regexp.MustCompile(`creating agent Job (\S+) in namespace`)

// TestExtEndToEnd is VS Code's launch: ext -t deployment/web in JSON mode,
// then a Node program and a shell script launched with its environment.
// A second ext with the same launch reuses the warm agent.
func TestExtEndToEnd(t *testing.T) {
	e := e2eenv.Get(t)
	k := newKit(t, e, ides[0])
	launch := map[string]string{"MIRRORD_TARGET_NAMESPACE": e.Namespace, "E2E_LAUNCH": "ext"}
	remote := strings.TrimSpace(sample.TestFileText)

	cold := k.ext(t, launch, "-t", "deployment/web")
	if cold.final == nil || len(cold.parseErrs) > 0 || cold.exitCode != 0 {
		t.Fatalf("ext: exit %d, parse errors %v, lines %+v\nstderr: %s", cold.exitCode, cold.parseErrs, cold.lines, cold.stderr)
	}
	if first := cold.lines[0]; first.Type != "NewTask" || first.Name != "mirrord preparing to launch" || first.Parent != nil {
		t.Errorf("first line %+v, want the root NewTask with a null parent", first)
	}
	if last := cold.lines[len(cold.lines)-1]; last.Type != "FinishedTask" || last.Name != "mirrord preparing to launch" {
		t.Errorf("last line %+v, want the final task (nothing after it)", last)
	}
	if cold.exitedAt-cold.finalAt > 2*time.Second {
		t.Errorf("ext exited %s after its final line, want within 2 s", cold.exitedAt-cold.finalAt)
	}
	job := ""
	for _, l := range cold.lines {
		if m := agentJobRe.FindStringSubmatch(l.Name); m != nil {
			job = m[1]
		}
	}
	if job == "" {
		t.Fatalf("no agent Job named in the progress: %+v", cold.lines)
	}

	script := `cat /app/test.txt; echo "var=$MIRRORD_FAKE_VAR_FIRST"; curl -sS -m 10 http://internal-only/`
	out, code := k.launched(t, launch, cold.final, "sh", "-c", script)
	if code != 0 || !strings.Contains(out, remote) || !strings.Contains(out, "var="+sample.EnvFirstValue) || !strings.Contains(out, "GET from pod internal-only") {
		t.Fatalf("shell script with cat and curl: exit %d, output:\n%s", code, out)
	}
	const node = `const fs = require("fs"), http = require("http");
console.log(fs.readFileSync("/app/test.txt", "utf8").trim());
console.log("var=" + process.env.MIRRORD_FAKE_VAR_FIRST);
http.get("http://internal-only/", r => { let b = ""; r.on("data", d => b += d); r.on("end", () => console.log(b.trim())); })
  .on("error", e => { console.log("error " + e.message); process.exit(1); });`
	out, code = k.launched(t, launch, cold.final, "node", "-e", node)
	if code != 0 || !strings.Contains(out, remote) || !strings.Contains(out, "var="+sample.EnvFirstValue) || !strings.Contains(out, "GET from pod internal-only") {
		t.Fatalf("node program: exit %d, output:\n%s", code, out)
	}

	// The programs exited: the session is idle, and the next launch with
	// the same settings gets it (and its agent) at once.
	time.Sleep(300 * time.Millisecond)
	warm := k.ext(t, launch, "-t", "deployment/web")
	if warm.final == nil || warm.final.Environment["MIRRORD_LAYER_SOCKET"] != cold.final.Environment["MIRRORD_LAYER_SOCKET"] {
		t.Fatalf("second ext: %+v, want the warm session reused", warm.final)
	}
	if out, code := k.launched(t, launch, warm.final, "sh", "-c", "cat /app/test.txt"); code != 0 || !strings.Contains(out, remote) {
		t.Fatalf("on the warm session: exit %d, output %q", code, out)
	}
	t.Logf("ext start to final line: cold %s, warm %s (agent %s reused)", cold.finalAt.Round(time.Millisecond), warm.finalAt.Round(time.Millisecond), job)

	// After the last program, the session ends and the agent goes.
	e.Poll(t, 45*time.Second, "agent Job "+job+" deleted", func(ctx context.Context) error {
		_, err := e.Client.BatchV1().Jobs(e.Namespace).Get(ctx, job, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return errors.New("the Job still exists")
	})
}
