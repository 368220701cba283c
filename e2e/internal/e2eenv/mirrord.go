package e2eenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce  sync.Once
	mirrordBin string
	errBuild   error
)

// MirrordPath is the mirrord binary under test: $MIRRORD_E2E_BIN when `make
// e2e` built it once for every suite, else bin/mirrord built the way `make
// build` does (the version stamped from VERSION, so the default agent image
// is the one the harness imported) into a temp dir, once per test binary.
func MirrordPath(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("MIRRORD_E2E_BIN"); p != "" {
			mirrordBin = p
			if _, errBuild = os.Stat(p); errBuild != nil {
				errBuild = fmt.Errorf("MIRRORD_E2E_BIN: %w", errBuild)
			}
			return
		}
		mirrordBin, errBuild = buildMirrord()
	})
	if errBuild != nil {
		t.Fatalf("e2e: building mirrord: %v", errBuild)
	}
	return mirrordBin
}

func buildMirrord() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	version, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "mirrord-e2e-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "mirrord")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
		"-X github.com/mirrord-go/mirrord/internal/buildinfo.Version="+strings.TrimSpace(string(version)),
		"-o", out, "./cli/cmd/mirrord")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	return out, nil
}

// repoRoot is the module root, found from this source file.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("cannot locate the source tree")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Mirrord returns a command running the built mirrord inside the laptop
// netns with the laptop kubeconfig, as a developer would run it. Extra
// environment can be appended to cmd.Env.
func (e *Env) Mirrord(t testing.TB, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	cmd := e.LaptopCommand(ctx, MirrordPath(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.LaptopKubeconfig, "MIRRORD_PROGRESS_MODE=off")
	return cmd
}
