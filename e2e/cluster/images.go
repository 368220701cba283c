//go:build linux

package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mirrord-go/mirrord/agent/image"
	"github.com/mirrord-go/mirrord/e2e/apps/sample"
)

// Image references. No registry is reachable: every image is built here,
// imported into containerd and used with imagePullPolicy: Never.
const (
	// PauseImage must equal containerd's sandbox_image (conf/containerd.toml).
	PauseImage     = "registry.k8s.io/pause:3.10"
	CoreDNSImage   = "e2e.mirrord.local/coredns:e2e"
	BusyboxImage   = "e2e.mirrord.local/busybox:e2e"
	SampleAppImage = "e2e.mirrord.local/sampleapp:e2e"
	// AgentImageRepo is the agent's repository: the CLI's default
	// (schema.DefaultAgentRegistry), so that the CLI finds the imported
	// image without any agent.image setting.
	AgentImageRepo = "ghcr.io/mirrord-go/mirrord-agent"
	// agentPackage is the agent's main package.
	agentPackage = "agent/cmd/mirrord-agent"
)

// AgentImage is the agent image reference for a version (the repository's
// VERSION file, which the CLI's default image tag is stamped from).
func AgentImage(version string) string { return AgentImageRepo + ":" + version }

// RepoVersion reads the VERSION file at the root of the repository srcDir.
func RepoVersion(srcDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(srcDir, "VERSION"))
	if err != nil {
		return "", fmt.Errorf("reading the repository version: %w", err)
	}
	v := strings.TrimSpace(string(data))
	if v == "" || strings.ContainsAny(v, " \t\n:/@") {
		return "", fmt.Errorf("%s holds %q, which is not a usable image tag", filepath.Join(srcDir, "VERSION"), v)
	}
	return v, nil
}

// busyboxPath is Debian's busybox-static, a static binary that gives the
// images a shell and the usual tools (sh, cat, ps, nslookup, wget, ...).
const busyboxPath = "/bin/busybox"

// Image is one container image of the cluster: a main package turned into
// an image tarball and imported into containerd.
type Image struct {
	// Name is the short name: the tarball is images/<Name>.tar and
	// manifests refer to it as {{index .Images "<Name>"}}.
	Name string
	Ref  string
	// Packages are root-module main packages that Build compiles (static,
	// CGO_ENABLED=0) to c.Binary(pkg) for Files to use.
	Packages []string
	// Files lists the content.
	Files  func(c *Cluster) ([]image.File, error)
	Config image.Config
}

// Images lists every image the harness builds and imports; this is the one
// place to add one. version is the repository's VERSION: it tags the agent
// image, and Build stamps it into the binaries.
func Images(version string) []Image {
	return []Image{
		// Only the static agent binary. The working directory is / so that
		// upstream's pod spec form, command ./mirrord-agent, works too.
		{Name: "agent", Ref: AgentImage(version), Packages: []string{agentPackage},
			Files: func(c *Cluster) ([]image.File, error) {
				return []image.File{{Path: "/mirrord-agent", Source: c.Binary(agentPackage)}}, nil
			},
			Config: image.Config{Entrypoint: []string{"/mirrord-agent"}, WorkingDir: "/"}},
		{Name: "pause", Ref: PauseImage, Packages: []string{"e2e/apps/pause"},
			Files: func(c *Cluster) ([]image.File, error) {
				return []image.File{{Path: "/pause", Source: c.Binary("e2e/apps/pause")}}, nil
			},
			Config: image.Config{Entrypoint: []string{"/pause"}}},
		{Name: "coredns", Ref: CoreDNSImage,
			Files: func(c *Cluster) ([]image.File, error) {
				return []image.File{{Path: "/coredns", Source: c.path("build", "coredns")}}, nil
			},
			Config: image.Config{Entrypoint: []string{"/coredns"}}},
		{Name: "busybox", Ref: BusyboxImage,
			Files:  func(*Cluster) ([]image.File, error) { return busyboxFiles() },
			Config: image.Config{Cmd: []string{"sh"}}},
		{Name: "sampleapp", Ref: SampleAppImage, Packages: []string{"e2e/apps/sampleapp"},
			Files: func(c *Cluster) ([]image.File, error) {
				files, err := busyboxFiles()
				if err != nil {
					return nil, err
				}
				return append(files,
					image.File{Path: "/app/sampleapp", Source: c.Binary("e2e/apps/sampleapp")},
					image.File{Path: sample.TestFilePath, Contents: []byte(sample.TestFileText)},
				), nil
			},
			Config: image.Config{Entrypoint: []string{"/app/sampleapp"}, Cmd: []string{"web"}, WorkingDir: "/app"}},
	}
}

// busyboxFiles is busybox, a symlink per applet, /tmp and minimal
// /etc/passwd and /etc/group (for id, whoami and ls -l).
func busyboxFiles() ([]image.File, error) {
	out, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list busybox applets (is busybox-static installed? run 'make deps'): %w", err)
	}
	files := []image.File{
		{Path: "/bin/busybox", Source: busyboxPath},
		{Path: "/tmp", Mode: os.ModeDir | os.ModeSticky | 0o777},
		{Path: "/etc/passwd", Contents: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "/etc/group", Contents: []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		files = append(files, image.File{Path: "/bin/" + applet, Linkname: "busybox"})
	}
	return files, nil
}

// imageKey hashes everything an image is made of: reference, config and
// the content of every file (so a rebuilt binary with the same bytes keeps
// its key). Images are rebuilt, re-imported and their pods rolled only when
// the key changes.
func (c *Cluster) imageKey(img Image) (string, error) {
	files, err := img.Files(c)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Name, err)
	}
	h := sha256.New()
	cfg, err := json.Marshal(img.Config)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Name, err)
	}
	fmt.Fprintf(h, "ref %s\nconfig %s\n", img.Ref, cfg)
	for _, f := range files {
		fmt.Fprintf(h, "file %s %o %q %d\n", f.Path, uint32(f.Mode), f.Linkname, len(f.Contents))
		h.Write(f.Contents)
		if f.Source != "" {
			if err := hashFile(h, f.Source); err != nil {
				return "", fmt.Errorf("image %s: %w", img.Name, err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// images is Images for this checkout's version.
func (c *Cluster) images() []Image { return Images(c.version) }

func (c *Cluster) imageTar(img Image) string { return c.path("images", img.Name+".tar") }

// BuildImages writes images/<name>.tar for every image whose key changed.
func (c *Cluster) BuildImages(ctx context.Context) error {
	for _, img := range c.images() {
		if err := ctx.Err(); err != nil {
			return err
		}
		key, err := c.imageKey(img)
		if err != nil {
			return err
		}
		keyFile := c.imageTar(img) + ".key"
		if old, err := os.ReadFile(keyFile); err == nil && string(old) == key {
			if _, err := os.Stat(c.imageTar(img)); err == nil {
				continue
			}
		}
		t0 := time.Now()
		files, err := img.Files(c)
		if err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		built, err := image.Build(files, img.Config)
		if err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		if err := image.WriteTarball(built, img.Ref, c.imageTar(img)); err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		if err := os.WriteFile(keyFile, []byte(key), 0o644); err != nil {
			return fmt.Errorf("image %s: %w", img.Name, err)
		}
		c.Log.Info("image built", "ref", img.Ref, "tarball", c.imageTar(img), "took", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// ImportImages imports into containerd's k8s.io namespace every image whose
// key differs from the one imported last (state/imported/<name>).
func (c *Cluster) ImportImages(ctx context.Context) error {
	if err := os.MkdirAll(c.path("state", "imported"), 0o755); err != nil {
		return fmt.Errorf("import images: %w", err)
	}
	for _, img := range c.images() {
		key, err := os.ReadFile(c.imageTar(img) + ".key")
		if err != nil {
			return fmt.Errorf("import %s: not built: %w", img.Name, err)
		}
		stamp := c.path("state", "imported", img.Name)
		if old, err := os.ReadFile(stamp); err == nil && string(old) == string(key) {
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		_, err = output(ictx, "ctr", "--address", c.containerdSock(), "-n", "k8s.io", "images", "import", c.imageTar(img))
		cancel()
		if err != nil {
			return fmt.Errorf("import %s into containerd: %w (containerd log: %s)", img.Ref, err, c.logFile("containerd"))
		}
		if err := os.WriteFile(stamp, key, 0o644); err != nil {
			return fmt.Errorf("import %s: %w", img.Name, err)
		}
		c.Log.Info("image imported", "ref", img.Ref)
	}
	return nil
}
