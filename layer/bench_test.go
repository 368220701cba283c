package layer_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/layer"
)

// The benchmarks time a loop inside one process (bare, or under the
// layer) and report that per-iteration time as ns/op, so process start-up
// is not counted.

func benchLoop(b *testing.B, supervised bool, mode string, args ...string) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	argv := append([]string{self, strconv.Itoa(b.N)}, args...)
	env := append(os.Environ(), helperEnv+"="+mode)
	var out bytes.Buffer
	if supervised {
		client := newFakeAgent().start(b)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		code, err := layer.Exec(ctx, layer.ExecOptions{
			Argv: argv, Env: env, Session: client, Features: defaultFeatures(),
			Stdio: layer.Stdio{Out: &out, Err: &out}, Self: self,
		})
		if err != nil || code != 0 {
			b.Fatalf("exit %d err %v: %s", code, err, out.String())
		}
	} else {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &out
		if err := cmd.Run(); err != nil {
			b.Fatalf("%v: %s", err, out.String())
		}
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(out.String()), 64)
	if err != nil {
		b.Fatalf("helper said %q", out.String())
	}
	b.ReportMetric(ns, "ns/op")
}

// BenchmarkOpenat: openat+close of a local file, which the supervisor
// routes and answers CONTINUE, against the same loop unsupervised.
func BenchmarkOpenat(b *testing.B) {
	f := filepath.Join(b.TempDir(), "local.txt")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("bare", func(b *testing.B) { benchLoop(b, false, "openbench", f) })
	b.Run("supervised", func(b *testing.B) { benchLoop(b, true, "openbench", f) })
}

// BenchmarkRead: read(2) is never trapped; this shows it costs nothing.
func BenchmarkRead(b *testing.B) {
	b.Run("bare", func(b *testing.B) { benchLoop(b, false, "readbench") })
	b.Run("supervised", func(b *testing.B) { benchLoop(b, true, "readbench") })
}
