package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/cli/internal/progress"
	"github.com/mirrord-go/mirrord/daemon/api"
)

// checkJSONLines fails unless out is JSON objects, one per line, with no
// blank line: what the upstream plugins' parsers demand of ext's stdout.
func checkJSONLines(t *testing.T, out string) {
	t.Helper()
	if out == "" {
		return
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if line == "" || json.Unmarshal([]byte(line), &m) != nil || m["type"] == nil {
			t.Fatalf("line %d is not a JSON message: %q", i+1, line)
		}
	}
}

// FuzzExtOutput: whatever the task names, warnings and errors contain
// (newlines, invalid UTF-8, JSON, "Error: "), ext and the progress writer
// in JSON mode print only JSON objects, one per line, never a blank line.
func FuzzExtOutput(f *testing.F) {
	for _, s := range []string{"", "\n", "\r\n", "creating agent Job x done", "x failed", `{"type":"NewTask"}`, "Error: boom\n\nmore", "\xff\xfe", "a\u2028b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		o := &extOut{w: &b, json: true}
		raw, _ := json.Marshal(api.ProgressParams{Token: "ext", Value: api.ProgressValue{Kind: "report", Message: s}})
		o.progress(raw)
		o.progress(json.RawMessage(s)) // not even JSON: dropped
		o.emit(map[string]any{"type": "Warning", "message": s}, "warning: "+s)
		p := progress.New(&b, progress.JSON, false, extRoot)
		done := p.Task(s)
		done(errors.New(s))
		p.Warn(s)
		p.Info(s)
		checkJSONLines(t, b.String())
	})
}

func TestExtProgressMapping(t *testing.T) {
	tests := []struct {
		msg, want string
	}{
		{"resolving target deployment/web", `{"name":"resolving target deployment/web","parent":"mirrord preparing to launch","type":"NewTask"}`},
		{"resolving target deployment/web done", `{"message":null,"name":"resolving target deployment/web","success":true,"type":"FinishedTask"}`},
		{"waiting for the agent pod failed", `{"message":null,"name":"waiting for the agent pod","success":false,"type":"FinishedTask"}`},
		{"", ``},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			var b bytes.Buffer
			o := &extOut{w: &b, json: true}
			raw, _ := json.Marshal(api.ProgressParams{Value: api.ProgressValue{Kind: "report", Message: tt.msg}})
			o.progress(raw)
			if got := strings.TrimSuffix(b.String(), "\n"); got != tt.want {
				t.Fatalf("got %s\nwant %s", got, tt.want)
			}
		})
	}
}
