// Package image builds minimal OCI images from static binaries and a few
// files, without a Docker daemon or a base image.
//
// The e2e harness uses it to build the cluster's images (pause, CoreDNS,
// busybox, the sample apps) and imports them into containerd, because no
// registry is reachable there; later the CLI pushes the agent image to a
// user's registry with the same code. Images are reproducible: every file
// gets a fixed timestamp and owner, so the same inputs give the same digest.
package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one entry of the image's single layer. Exactly one of Source,
// Contents or Linkname describes its content, or Mode has fs.ModeDir for an
// empty directory (parent directories are created without being listed).
type File struct {
	// Path is the absolute path inside the image, for example "/app/test.txt".
	Path string
	// Source is a file on the build host whose content is copied.
	Source string
	// Contents is the literal content (used when Source and Linkname are empty).
	Contents []byte
	// Linkname makes the entry a symlink to this target.
	Linkname string
	// Mode is the permission bits (plus fs.ModeDir, fs.ModeSticky,
	// fs.ModeSetuid, fs.ModeSetgid); zero means 0755 for Source files and
	// 0644 for Contents.
	Mode fs.FileMode
}

// Config is the part of the OCI image config that callers choose.
type Config struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	Labels     map[string]string
	// Arch is the GOARCH of the binaries; empty means the builder's.
	Arch string
}

// epoch is the timestamp of every layer entry and of the image, so builds
// are reproducible.
var epoch = time.Unix(0, 0).UTC()

// Build returns a single-layer image holding files, with parent directories
// created as needed.
func Build(files []File, cfg Config) (v1.Image, error) {
	layerTar, err := layerBytes(files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("image: make layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("image: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: read config: %w", err)
	}
	cf = cf.DeepCopy()
	arch := cfg.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	env := cfg.Env
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}, env...)
	}
	cf.Config = v1.Config{
		Entrypoint: cfg.Entrypoint,
		Cmd:        cfg.Cmd,
		Env:        env,
		WorkingDir: cfg.WorkingDir,
		Labels:     cfg.Labels,
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: set config: %w", err)
	}
	return img, nil
}

// WriteTarball writes img as a docker-archive tarball tagged ref (for
// example "registry.k8s.io/pause:3.10"), the format that
// `ctr images import` and `docker load` accept.
func WriteTarball(img v1.Image, ref, path string) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image: parse reference %q: %w", ref, err)
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("image: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("image: write %s: %w", path, err)
	}
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, key+"=") {
			return true
		}
	}
	return false
}

// layerBytes renders files as an uncompressed tar with deterministic
// metadata: directories first (sorted), then the entries sorted by path.
func layerBytes(files []File) ([]byte, error) {
	entries := make([]File, len(files))
	copy(entries, files)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Path < entries[j].Path })

	dirs := map[string]bool{}
	var dirList []string
	seen := map[string]bool{}
	for _, f := range entries {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/" {
			return nil, fmt.Errorf("image: path %q must be absolute and clean", f.Path)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("image: path %q listed twice", f.Path)
		}
		seen[f.Path] = true
		for d := path.Dir(f.Path); d != "/"; d = path.Dir(d) {
			if !dirs[d] && !isDir(files, d) {
				dirs[d] = true
				dirList = append(dirList, d)
			}
		}
	}
	sort.Strings(dirList)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range dirList {
		if seen[d] {
			return nil, fmt.Errorf("image: %q is both a file and a parent directory", d)
		}
		if err := tw.WriteHeader(header(tar.TypeDir, d[1:]+"/", 0o755, 0)); err != nil {
			return nil, fmt.Errorf("image: write dir %s: %w", d, err)
		}
	}
	for _, f := range entries {
		if err := writeEntry(tw, f); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image: close layer: %w", err)
	}
	return buf.Bytes(), nil
}

func writeEntry(tw *tar.Writer, f File) error {
	rel := f.Path[1:]
	switch {
	case f.Mode.IsDir():
		if f.Source != "" || f.Contents != nil || f.Linkname != "" {
			return fmt.Errorf("image: %s: a directory has no content", f.Path)
		}
		if err := tw.WriteHeader(header(tar.TypeDir, rel+"/", tarMode(f.Mode), 0)); err != nil {
			return fmt.Errorf("image: write dir %s: %w", f.Path, err)
		}
		return nil
	case f.Linkname != "":
		if f.Source != "" || f.Contents != nil {
			return fmt.Errorf("image: %s: a symlink has no content", f.Path)
		}
		h := header(tar.TypeSymlink, rel, 0o777, 0)
		h.Linkname = f.Linkname
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("image: write symlink %s: %w", f.Path, err)
		}
		return nil
	case f.Source != "":
		if f.Contents != nil {
			return fmt.Errorf("image: %s: set Source or Contents, not both", f.Path)
		}
		data, err := os.ReadFile(f.Source)
		if err != nil {
			return fmt.Errorf("image: read %s for %s: %w", f.Source, f.Path, err)
		}
		return writeRegular(tw, rel, data, modeOr(f.Mode, 0o755))
	case f.Contents != nil:
		return writeRegular(tw, rel, f.Contents, modeOr(f.Mode, 0o644))
	default:
		return errors.New("image: " + f.Path + ": no Source, Contents or Linkname")
	}
}

func writeRegular(tw *tar.Writer, rel string, data []byte, mode fs.FileMode) error {
	if err := tw.WriteHeader(header(tar.TypeReg, rel, tarMode(mode), int64(len(data)))); err != nil {
		return fmt.Errorf("image: write header /%s: %w", rel, err)
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("image: write /%s: %w", rel, err)
	}
	return nil
}

// isDir reports whether files lists p as an explicit directory.
func isDir(files []File, p string) bool {
	for _, f := range files {
		if f.Path == p && f.Mode.IsDir() {
			return true
		}
	}
	return false
}

// tarMode converts permission and special bits to the tar header's mode.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

func modeOr(m, def fs.FileMode) fs.FileMode {
	if m == 0 {
		return def
	}
	return m
}

func header(typ byte, name string, mode, size int64) *tar.Header {
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Mode:     mode,
		Size:     size,
		ModTime:  epoch,
	}
}
