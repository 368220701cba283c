//go:build e2e

package layer_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// TestRobustness runs Python under mirrord exec against deploy/web while
// the kernel is made to interrupt it: SIGALRM every millisecond while it
// opens remote files, and 8 threads opening remote and local files at once.
// A lost or misdirected fd (the ADDFD|SEND race) shows up as the wrong
// content, an error, or a local file's text where the pod's was due.
func TestRobustness(t *testing.T) {
	e := e2eenv.Get(t)
	py := python(t)
	local := filepath.Join(t.TempDir(), "local.txt")
	if err := os.WriteFile(local, []byte("the laptop's file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pyLocal := fmt.Sprintf(`{"feature":{"fs":{"local":[%q]}}}`, "^"+pythonPrefix(t))
	cfg := writeConfig(t, "robust.json", pyLocal)
	header := fmt.Sprintf("REMOTE = %q\nLOCAL = %q\nLOCAL_PATH = %q\n", sample.TestFileText, "the laptop's file\n", local)
	tests := []struct {
		name, script, want string
	}{
		{"SIGALRM every 1 ms while opening remote files", header + `
import signal
hits = [0]
def on_alarm(*_):
    hits[0] += 1
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
bad = 0
for _ in range(300):
    try:
        with open("/app/test.txt") as f:
            if f.read() != REMOTE:
                bad += 1
    except OSError as e:
        print("error", e)
        bad += 1
signal.setitimer(signal.ITIMER_REAL, 0, 0)
print("bad=%d alarms>0=%s" % (bad, hits[0] > 0))
`, "bad=0 alarms>0=True"},
		{"8 threads opening remote and local files", header + `
import threading
bad = []
def worker(i):
    for _ in range(60):
        path, want = ("/app/test.txt", REMOTE) if i % 2 == 0 else (LOCAL_PATH, LOCAL)
        try:
            with open(path) as f:
                s = f.read()
        except OSError as e:
            s = "error %s" % e
        if s != want:
            bad.append(s)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print("bad=%d %s" % (len(bad), bad[:3]))
`, "bad=0 []"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mirrord(t, e, nil, execArgs(e, cfg, py, "-c", tt.script)...)
			if r.code != 0 || strings.TrimSpace(r.stdout) != tt.want {
				t.Fatalf("want %q; %s", tt.want, r)
			}
		})
	}
}
