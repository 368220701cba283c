package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVersionFormat(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runCLI(t, "", args...)
		if code != 0 || !regexp.MustCompile(`^mirrord \d+\.\d+\.\d+\S*\n$`).MatchString(out) {
			t.Errorf("%v: code %d, output %q", args, code, out)
		}
	}
}

func TestVerifyConfigShapes(t *testing.T) {
	tests := []struct {
		name, file, content string
		args                []string
		wantType            string
		check               func(map[string]any) string
	}{
		{"success with target", "m.json", `{"target": {"path": "deploy/web/container/app", "namespace": "ns"}}`, nil, "Success",
			func(m map[string]any) string {
				cfg := m["config"].(map[string]any)
				path := cfg["path"].(map[string]any)
				if path["deployment"] != "web" || path["container"] != "app" || cfg["namespace"] != "ns" {
					return "bad config.path"
				}
				if _, ok := m["warnings"].([]any); !ok {
					return "warnings must always be an array"
				}
				return ""
			}},
		{"no target is null", "m.toml", "[feature]\nhostname = true\n", []string{"--ide"}, "Success",
			func(m map[string]any) string {
				if m["config"].(map[string]any)["path"] != nil {
					return "path should be null"
				}
				return ""
			}},
		{"targetless string", "m.yaml", "target: targetless\n", nil, "Success",
			func(m map[string]any) string {
				if m["config"].(map[string]any)["path"] != "targetless" {
					return "path should be \"targetless\""
				}
				return ""
			}},
		{"fail has positioned errors", "m.json", "{\n  \"feature\": {\"fs\": {\"mode\": \"rw\"}}\n}", nil, "Fail",
			func(m map[string]any) string {
				errs := m["errors"].([]any)
				if len(errs) == 0 || !strings.Contains(errs[0].(string), "m.json:2:") || !strings.Contains(errs[0].(string), "feature.fs.mode") {
					return "error not positioned"
				}
				if _, ok := m["config"]; ok {
					return "Fail must not carry config"
				}
				return ""
			}},
		{"steal without target fails outside IDE", "m.json", `{"feature": {"network": {"incoming": "steal"}}}`, nil, "Fail", nil},
		{"steal without target is fine in IDE", "m.json", `{"feature": {"network": {"incoming": "steal"}}}`, []string{"--ide"}, "Success", nil},
		{"resolved config", "m.json", `{"agent": {"ttl": 5}}`, []string{"--resolved", "--ide"}, "Success",
			func(m map[string]any) string {
				rc := m["resolved_config"].(map[string]any)
				if rc["agent"].(map[string]any)["ttl"].(float64) != 5 {
					return "resolved ttl"
				}
				return ""
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, tt.file, tt.content)
			code, out, stderr := runCLI(t, "", append(append([]string{"verify-config"}, tt.args...), p)...)
			if code != 0 || stderr != "" {
				t.Fatalf("code %d, stderr %q", code, stderr)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
			}
			if m["type"] != tt.wantType {
				t.Fatalf("type %v, want %s\n%s", m["type"], tt.wantType, out)
			}
			if tt.check != nil {
				if msg := tt.check(m); msg != "" {
					t.Fatalf("%s\n%s", msg, out)
				}
			}
		})
	}
}

func TestVerifyConfigStdin(t *testing.T) {
	code, out, _ := runCLI(t, `{"target": "pod/a"}`, "verify-config", "-")
	if code != 0 || !strings.Contains(out, `"pod": "a"`) {
		t.Fatalf("code %d: %s", code, out)
	}
}

func TestErrorsForIDECommandsAreJSON(t *testing.T) {
	// verify-config with no path is an IDE-facing usage error: stderr must be
	// one "Error: <json>" line, which the upstream VS Code plugin parses.
	code, _, stderr := runCLI(t, "", "verify-config")
	if code == 0 {
		t.Fatal("want non-zero exit")
	}
	line, ok := strings.CutPrefix(strings.TrimSpace(stderr), "Error: ")
	if !ok || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("stderr %q", stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil || m["message"] == "" {
		t.Fatalf("not JSON: %q", line)
	}
}

func TestSchemaCommand(t *testing.T) {
	code, out, _ := runCLI(t, "", "schema")
	var m map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &m) != nil || m["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Fatalf("code %d, bad schema output", code)
	}
}
