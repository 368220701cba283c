//go:build linux

package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// components of the multi-call binary; bin/<name> are symlinks to bin/k8s.
var k8sApplets = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// Build builds the Kubernetes multi-call binary (bin/k8s and its symlinks),
// CoreDNS and the image binaries (pause, sampleapp) under Dir. The two big
// builds are skipped when a stamp of their inputs (module files, ldflags, Go
// version) matches; the small ones rely on go build's own cache. The Go
// caches are the user's (go env GOCACHE/GOMODCACHE), so they survive
// between sessions and state wipes.
func (c *Cluster) Build(ctx context.Context) error {
	if c.SrcDir == "" {
		return errors.New("build: the repository root is unknown (run from the repository or pass --src)")
	}
	goBin, err := GoTool()
	if err != nil {
		return err
	}
	gover, err := output(ctx, goBin, "env", "GOVERSION")
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	builds := []moduleBuild{
		{name: "k8s", dir: c.src("e2e", "cluster", "kbuild"), out: c.k8sBin(), ldflags: k8sLDFlags(), cold: "about 15 min from empty Go caches"},
		{name: "coredns", dir: c.src("e2e", "cluster", "corednsbuild"), out: c.path("build", "coredns"), ldflags: "-s -w", cold: "about 3 min from empty Go caches"},
	}
	for _, b := range builds {
		if err := c.buildModule(ctx, goBin, gover, b); err != nil {
			return err
		}
	}
	for _, n := range k8sApplets {
		link := c.path("bin", n)
		if t, err := os.Readlink(link); err == nil && t == "k8s" {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink("k8s", link); err != nil {
			return fmt.Errorf("build: link %s: %w", link, err)
		}
	}
	// Root-module binaries: go build is a fast no-op when nothing changed.
	// The version is stamped as the Makefile does for the CLI, so the agent
	// reports the version the CLI expects.
	args := []string{"build", "-trimpath", "-ldflags=" + rootLDFlags(c.version), "-o", c.path("build") + "/"}
	for _, p := range imagePackages(c.version) {
		args = append(args, "./"+p)
	}
	if err := c.goRun(ctx, goBin, c.SrcDir, "apps", args...); err != nil {
		return err
	}
	return nil
}

// rootLDFlags are the link flags of the root-module binaries.
func rootLDFlags(version string) string {
	return "-s -w -X github.com/mirrord-go/mirrord/internal/buildinfo.Version=" + version
}

// imagePackages is the union of the images' Packages.
func imagePackages(version string) []string {
	var pkgs []string
	for _, img := range Images(version) {
		for _, p := range img.Packages {
			if !slices.Contains(pkgs, p) {
				pkgs = append(pkgs, p)
			}
		}
	}
	return pkgs
}

// Binary is where Build puts the binary of a root-module main package
// (for example "e2e/apps/sampleapp"), for an Image's Files.
func (c *Cluster) Binary(pkg string) string { return c.path("build", path.Base(pkg)) }

type moduleBuild struct {
	name    string // log name
	dir     string // module directory
	out     string // output binary
	ldflags string
	cold    string // how long it takes from empty caches, for the progress line
}

// k8sLDFlags stamps the version into the binary (otherwise every component
// reports v0.0.0 and kubectl warns about version skew).
func k8sLDFlags() string {
	minor := strings.Split(KubeVersion, ".")[1]
	flags := []string{"-s", "-w"}
	for _, p := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags,
			"-X", p+".gitVersion="+KubeVersion,
			"-X", p+".gitMajor=1",
			"-X", p+".gitMinor="+minor,
			"-X", p+".gitTreeState=clean",
			"-X", p+".gitCommit=0000000000000000000000000000000000000000",
			"-X", p+".buildDate=1970-01-01T00:00:00Z")
	}
	return strings.Join(flags, " ")
}

func (c *Cluster) src(elem ...string) string {
	return filepath.Join(append([]string{c.SrcDir}, elem...)...)
}

// buildModule builds the main package at the root of a separate module
// unless out exists and out.stamp matches the inputs.
func (c *Cluster) buildModule(ctx context.Context, goBin, gover string, b moduleBuild) error {
	stamp, err := moduleStamp(b.dir, gover, b.ldflags)
	if err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	stampFile := b.out + ".stamp"
	if old, err := os.ReadFile(stampFile); err == nil && string(old) == stamp {
		if _, err := os.Stat(b.out); err == nil {
			return nil
		}
	}
	c.Log.Info("building", "what", b.name, "cold", b.cold, "log", c.logFile("build-"+b.name))
	t0 := time.Now()
	// Build next to the target and rename: the running cluster may be
	// executing the old binary. -mod=readonly with the shipped go.sum means
	// nothing ever runs `go mod tidy`.
	if err := c.goRun(ctx, goBin, b.dir, "build-"+b.name, "build", "-trimpath", "-ldflags", b.ldflags, "-o", b.out+".new", "."); err != nil {
		return err
	}
	if err := os.Rename(b.out+".new", b.out); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	if err := os.WriteFile(stampFile, []byte(stamp), 0o644); err != nil {
		return fmt.Errorf("build %s: %w", b.name, err)
	}
	c.Log.Info("built", "what", b.name, "took", time.Since(t0).Round(time.Second))
	return nil
}

// moduleStamp hashes what decides a module's binary: go.mod, go.sum and the
// .go files of the module root, the ldflags and the Go version.
func moduleStamp(dir, gover, ldflags string) (string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	names = append(names, filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum"))
	sort.Strings(names)
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", gover, ldflags)
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			return "", fmt.Errorf("stamp: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(n), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// goRun runs the go tool in dir with output to logs/<logName>.log.
func (c *Cluster) goRun(ctx context.Context, goBin, dir, logName string, args ...string) error {
	logPath := c.logFile(logName)
	f, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("go %s: %w", args[0], err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-buildvcs=false -mod=readonly")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s in %s: %w; see %s:\n%s", strings.Join(args, " "), dir, err, logPath, tail(logPath, 15))
	}
	return nil
}

// GoTool finds the go command: on PATH, else the official tarball location
// (sudo often resets PATH).
func GoTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/local/go/bin/go", "/usr/lib/go/bin/go"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("build: the go command is not on PATH nor in /usr/local/go/bin")
}

// output runs a command and returns its trimmed stdout.
func output(ctx context.Context, name string, args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}
