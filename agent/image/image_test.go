package image

import (
	"archive/tar"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// entry is what a test expects to find in the flattened image.
type entry struct {
	typ      byte
	mode     int64
	body     string
	linkname string
}

func readFS(t *testing.T, rc io.ReadCloser) map[string]entry {
	t.Helper()
	defer rc.Close()
	got := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s: %v", h.Name, err)
		}
		got[h.Name] = entry{typ: h.Typeflag, mode: h.Mode, body: string(b), linkname: h.Linkname}
	}
}

func TestBuild(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := []File{
		{Path: "/app/test.txt", Contents: []byte("hello\n")},
		{Path: "/bin/sh", Linkname: "busybox"},
		{Path: "/app/app", Source: bin},
		{Path: "/bin/busybox", Contents: []byte("bb"), Mode: 0o700},
		{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{Path: "/usr/local/bin", Mode: fs.ModeDir | 0o700},
	}
	cfg := Config{Entrypoint: []string{"/app/app"}, Env: []string{"A=b"}, Arch: "amd64"}
	img, err := Build(files, cfg)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("Layers = %d, %v; want one layer", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	got := readFS(t, rc)
	want := map[string]entry{
		"app/":           {typ: tar.TypeDir, mode: 0o755},
		"bin/":           {typ: tar.TypeDir, mode: 0o755},
		"app/app":        {typ: tar.TypeReg, mode: 0o755, body: "#!binary"},
		"app/test.txt":   {typ: tar.TypeReg, mode: 0o644, body: "hello\n"},
		"bin/busybox":    {typ: tar.TypeReg, mode: 0o700, body: "bb"},
		"bin/sh":         {typ: tar.TypeSymlink, mode: 0o777, linkname: "busybox"},
		"tmp/":           {typ: tar.TypeDir, mode: 0o1777},
		"usr/":           {typ: tar.TypeDir, mode: 0o755},
		"usr/local/":     {typ: tar.TypeDir, mode: 0o755},
		"usr/local/bin/": {typ: tar.TypeDir, mode: 0o700},
	}
	if len(got) != len(want) {
		t.Errorf("layer has %d entries %v, want %d", len(got), got, len(want))
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %+v, want %+v", name, got[name], w)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || cf.Config.Entrypoint[0] != "/app/app" {
		t.Errorf("config = %s/%s entrypoint %v", cf.OS, cf.Architecture, cf.Config.Entrypoint)
	}
	if strings.Join(cf.Config.Env, " ") != "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin A=b" {
		t.Errorf("env = %v", cf.Config.Env)
	}

	// Same inputs, same digest, whatever the order of files.
	again, err := Build([]File{files[5], files[3], files[2], files[4], files[1], files[0]}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("digests differ: %s vs %s", d1, d2)
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		want  string
	}{
		{"relative path", []File{{Path: "a", Contents: []byte("x")}}, "absolute"},
		{"unclean path", []File{{Path: "/a/../b", Contents: []byte("x")}}, "absolute and clean"},
		{"duplicate", []File{{Path: "/a", Contents: []byte("x")}, {Path: "/a", Contents: []byte("y")}}, "twice"},
		{"no content", []File{{Path: "/a"}}, "no Source"},
		{"file is a dir", []File{{Path: "/a", Contents: []byte("x")}, {Path: "/a/b", Contents: []byte("y")}}, "parent directory"},
		{"missing source", []File{{Path: "/a", Source: "/nonexistent/x"}}, "read /nonexistent/x"},
		{"dir with content", []File{{Path: "/d", Mode: fs.ModeDir, Contents: []byte("x")}}, "directory has no content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.files, Config{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWriteTarball(t *testing.T) {
	img, err := Build([]File{{Path: "/pause", Contents: []byte("p"), Mode: 0o755}}, Config{Entrypoint: []string{"/pause"}})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pause.tar")
	const ref = "registry.k8s.io/pause:3.10"
	if err := WriteTarball(img, ref, out); err != nil {
		t.Fatalf("WriteTarball: %v", err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	tr := tar.NewReader(f)
	var manifest []struct{ RepoTags []string }
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in tarball: %v", err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 || manifest[0].RepoTags[0] != ref {
		t.Errorf("manifest = %+v, want one image tagged %s", manifest, ref)
	}
	back, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := back.Digest()
	if d1 != d2 {
		t.Errorf("round trip digest %s, want %s", d2, d1)
	}
	if err := WriteTarball(img, "not a ref", out); err == nil {
		t.Error("WriteTarball accepted an invalid reference")
	}
}
