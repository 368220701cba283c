//go:build e2e

package layer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// TestFSModes runs a shell under mirrord exec against deploy/web with each
// feature.fs mode and pattern list. The laptop has no /app, so reading
// /app/test.txt succeeds only through the pod; a write that must land in
// the pod is checked with exec in the pod.
func TestFSModes(t *testing.T) {
	e := e2eenv.Get(t)
	pod := e.ReadyPod(t, "web")
	remote := strings.TrimSpace(sample.TestFileText)
	suffix := randHex(t)
	inPod := func(t *testing.T, path string) (string, error) {
		out, _, err := e.Exec(e2eenv.Context(t, 30*time.Second), e.Namespace, pod.Name, "", nil, "cat", path)
		return out, err
	}
	tests := []struct {
		name   string
		fs     string // the feature.fs value
		script string
		want   []string // in the output, in order of the script
		// landed is a pod path the script wrote "from-laptop" to ("" = none).
		landed string
		// notLanded is a pod path the script wrote to that must stay absent.
		notLanded string
	}{
		{name: "local: everything is the laptop's", fs: `"local"`,
			script: `cat /app/test.txt 2>&1`, want: []string{"No such file"}},
		{name: "read: reads remote, writes local", fs: `"read"`,
			script:    `cat /app/test.txt; echo from-laptop > /app/read-` + suffix + ` 2>&1 || echo write-failed`,
			want:      []string{remote, "write-failed"},
			notLanded: "/app/read-" + suffix},
		{name: "write: writes land in the pod", fs: `"write"`,
			script: `echo from-laptop > /app/write-` + suffix + ` && cat /app/write-` + suffix,
			want:   []string{"from-laptop"}, landed: "/app/write-" + suffix},
		{name: "localwithoverrides: only read_only patterns are remote", fs: `{"mode":"localwithoverrides","read_only":["^/app/test\\.txt$"]}`,
			script: `cat /app/test.txt; ls /app 2>&1`, want: []string{remote, "No such file"}},
		{name: "read_write pattern in read mode", fs: `{"mode":"read","read_write":["^/app/rw-"]}`,
			script: `echo from-laptop > /app/rw-` + suffix + ` && cat /app/rw-` + suffix,
			want:   []string{"from-laptop"}, landed: "/app/rw-" + suffix},
		{name: "not_found hides a remote file", fs: `{"mode":"read","not_found":["^/app/test\\.txt$"]}`,
			script: `cat /app/test.txt 2>&1; ls /app`, want: []string{"No such file", "sampleapp"}},
		{name: "local pattern wins over the mode", fs: `{"mode":"read","local":["^/app"]}`,
			script: `cat /app/test.txt 2>&1`, want: []string{"No such file"}},
		{name: "mapping rewrites the path first", fs: `{"mode":"read","mapping":{"^/data/(.*)$":"/app/$1"}}`,
			script: `cat /data/test.txt`, want: []string{remote}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, "fs.json", `{"feature":{"fs":`+tt.fs+`}}`)
			r := mirrord(t, e, nil, execArgs(e, cfg, "/bin/sh", "-c", tt.script)...)
			out := r.stdout + r.stderr
			at := 0
			for _, w := range tt.want {
				i := strings.Index(out[at:], w)
				if i < 0 {
					t.Fatalf("want %q (after offset %d) in the output; %s", w, at, r)
				}
				at += i + len(w)
			}
			if tt.landed != "" {
				got, err := inPod(t, tt.landed)
				if err != nil || strings.TrimSpace(got) != "from-laptop" {
					t.Fatalf("in the pod, %s holds %q (%v); want the laptop's write", tt.landed, got, err)
				}
				t.Cleanup(func() {
					_, _, _ = e.Exec(e2eenv.Context(t, 30*time.Second), e.Namespace, pod.Name, "", nil, "rm", "-f", tt.landed)
				})
			}
			if tt.notLanded != "" {
				if got, err := inPod(t, tt.notLanded); err == nil {
					t.Fatalf("in the pod, %s exists (%q); a read-mode write must stay local", tt.notLanded, got)
				}
			}
			noMirrordMounts(t)
		})
	}
}
