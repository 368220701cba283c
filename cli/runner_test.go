package cli

import (
	"bufio"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/schema"
	"github.com/mirrord-go/mirrord/session"
)

func TestRunnerResult(t *testing.T) {
	launch := []string{"PATH=/bin", "KEEP=same", "CHANGED=old", "GONE=x"}
	merged := []string{"PATH=/bin", "KEEP=same", "CHANGED=new", "FROM_POD=1"}
	layerEnv := map[string]string{"LD_PRELOAD": "/b.so:/old.so", "MIRRORD_LAYER_SOCKET": "/s"}
	res := &schema.Result{Config: schema.Default(), Warnings: []schema.Issue{}}
	got := runnerResult(launch, merged, layerEnv, res, &session.Session{})
	want := RunnerResult{
		Env:      map[string]string{"CHANGED": "new", "FROM_POD": "1", "LD_PRELOAD": "/b.so:/old.so", "MIRRORD_LAYER_SOCKET": "/s"},
		Unset:    []string{"GONE"},
		Target:   "targetless",
		Warnings: []string{},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestRunnerLaunchEnv(t *testing.T) {
	tests := []struct {
		name, flag, stdin string
		want              []string
		err               string
	}{
		{"stdin", "-", "{\"B\":\"2\",\"A\":\"1\"}\nrest of stdin", []string{"A=1", "B=2"}, ""},
		{"stdin without newline", "-", `{"A":"x=y"}`, []string{"A=x=y"}, ""},
		{"not an object", "-", "[1]\n", nil, "expected a JSON object of strings"},
		{"file", writeFile(t, "env.json", `{"K":"v"}`), "", []string{"K=v"}, ""},
		{"missing file", "/nonexistent/env.json", "", nil, "reading --launch-env /nonexistent/env.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := newRunnerCmd()
			if err := cmd.Flags().Set("launch-env", tt.flag); err != nil {
				t.Fatal(err)
			}
			env, err := readLaunchEnv(cmd, bufio.NewReader(strings.NewReader(tt.stdin)))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(env, tt.want) {
				t.Fatalf("got %v, %v; want %v", env, err, tt.want)
			}
		})
	}
}

// Errors keep the IDE contract: non-zero exit, "Error: " and JSON on one
// stderr line, nothing on stdout.
func TestRunnerErrorIsJSON(t *testing.T) {
	code, out, errOut := runCLI(t, "", "runner", "-f", "/nonexistent/mirrord.json")
	var e struct{ Message string }
	line, ok := strings.CutPrefix(strings.TrimSpace(errOut), "Error: ")
	if code == 0 || out != "" || !ok || json.Unmarshal([]byte(line), &e) != nil || !strings.Contains(e.Message, "/nonexistent/mirrord.json") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
