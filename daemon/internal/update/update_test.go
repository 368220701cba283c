package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// feedServer serves a release feed and its binaries, like a release host.
type feedServer struct {
	*httptest.Server
	bins      map[string][]byte // version -> binary
	corrupt   map[string]bool   // serve other bytes than the feed's sha256
	cut       map[string]bool   // close the connection halfway through the body
	downloads atomic.Int32
}

func newFeedServer(t *testing.T, versions ...string) *feedServer {
	t.Helper()
	s := &feedServer{bins: map[string][]byte{}, corrupt: map[string]bool{}, cut: map[string]bool{}}
	for _, v := range versions {
		s.bins[v] = []byte(fmt.Sprintf("#!/bin/sh\necho mirrord %s\n%s", v, strings.Repeat("x", 64<<10)))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/feed/releases.json", func(w http.ResponseWriter, r *http.Request) {
		var f feed
		for v, bin := range s.bins {
			sum := sha256.Sum256(bin)
			f.Releases = append(f.Releases, feedRelease{Version: v, Assets: []feedAsset{
				{OS: "plan9", Arch: "amd64", URL: "/nope", SHA256: strings.Repeat("0", 64)},
				// relative URL, resolved against the feed's
				{OS: "linux", Arch: "amd64", URL: "bin/" + v + "/mirrord", SHA256: hex.EncodeToString(sum[:]), Size: int64(len(bin))},
			}})
		}
		f.Releases = append(f.Releases, feedRelease{Version: "not-a-version"})
		_ = json.NewEncoder(w).Encode(f)
	})
	mux.HandleFunc("/feed/bin/{version}/mirrord", func(w http.ResponseWriter, r *http.Request) {
		v := r.PathValue("version")
		bin, ok := s.bins[v]
		if !ok {
			http.NotFound(w, r)
			return
		}
		s.downloads.Add(1)
		if s.corrupt[v] {
			bin = append([]byte("evil"), bin[4:]...)
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(bin)))
		if s.cut[v] {
			_, _ = w.Write(bin[:len(bin)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		_, _ = w.Write(bin)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func newUpdater(t *testing.T, s *feedServer, current string) (*Updater, string) {
	t.Helper()
	dir := t.TempDir()
	u, err := New(Config{FeedURL: s.URL + "/feed/releases.json", DataDir: dir, Current: current, OS: "linux", Arch: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	return u, dir
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		current   string
		policy    Policy
		latest    string
		available bool
		err       string
	}{
		{name: "auto, newer", current: "0.1.0", policy: Policy{Auto: true}, latest: "0.2.0", available: true},
		{name: "auto, up to date", current: "0.2.0", policy: Policy{Auto: true}, latest: "0.2.0"},
		{name: "auto, ahead of the feed", current: "0.3.0", policy: Policy{Auto: true}, latest: "0.2.0"},
		{name: "auto skips pre-releases", current: "0.1.0", policy: Policy{Auto: true}, latest: "0.2.0", available: true},
		{name: "auto, dev build", current: "dev", policy: Policy{Auto: true}, latest: "0.2.0"},
		{name: "pinned, older", current: "0.2.0", policy: Policy{Pinned: "0.1.0"}, latest: "0.1.0", available: true},
		{name: "pinned with v", current: "0.1.0", policy: Policy{Pinned: "v0.1.0"}, latest: "0.1.0"},
		{name: "pinned pre-release", current: "0.2.0", policy: Policy{Pinned: "0.3.0-rc.1"}, latest: "0.3.0-rc.1", available: true},
		{name: "pinned, unknown", current: "0.2.0", policy: Policy{Pinned: "9.9.9"}, err: "is not in the release feed"},
		{name: "pinned, invalid", current: "0.2.0", policy: Policy{Pinned: "latest"}, err: "is not a version"},
		{name: "disabled", current: "0.1.0", policy: Policy{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFeedServer(t, "0.1.0", "0.2.0", "v0.3.0-rc.1")
			u, _ := newUpdater(t, s, tt.current)
			res, err := u.Check(context.Background(), tt.policy)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Current != tt.current || res.Latest != tt.latest || res.Available != tt.available {
				t.Fatalf("got %+v, want latest %q available %v", res, tt.latest, tt.available)
			}
			if tt.latest != "" && (res.Release == nil || !strings.HasPrefix(res.Release.URL, s.URL+"/feed/bin/")) {
				t.Fatalf("release %+v: want a URL resolved against the feed", res.Release)
			}
		})
	}
}

func TestCheckDisabledDoesNotFetch(t *testing.T) {
	u, err := New(Config{FeedURL: "http://127.0.0.1:1/unreachable.json", DataDir: t.TempDir(), Current: "0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := u.Check(context.Background(), Policy{}); err != nil || res.Available {
		t.Fatalf("disabled check: %+v, %v", res, err)
	}
	if _, err := u.Check(context.Background(), Policy{Auto: true}); err == nil || !strings.Contains(err.Error(), "fetching release feed") {
		t.Fatalf("auto check against an unreachable feed: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{
		{DataDir: "/tmp/x"},
		{FeedURL: "ftp://host/feed.json", DataDir: "/tmp/x"},
		{FeedURL: "releases.json", DataDir: "/tmp/x"},
		{FeedURL: "https://host/feed.json"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}

// installedBinary reads what current points at.
func installedBinary(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "current"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// noLeftovers checks that no temp file of a download remains.
func noLeftovers(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && (strings.HasPrefix(d.Name(), ".download-") || strings.HasSuffix(d.Name(), ".tmp")) {
			t.Errorf("leftover %s", p)
		}
		return nil
	})
}

func TestApplyAndRollback(t *testing.T) {
	s := newFeedServer(t, "0.1.0", "0.2.0", "0.3.0")
	u, dir := newUpdater(t, s, "0.1.0")
	ctx := context.Background()

	cur, err := u.Current()
	if err != nil || cur.Version != "0.1.0" || cur.Path == "" || cur.Previous != "" {
		t.Fatalf("Current before any install: %+v, %v", cur, err)
	}

	inst, err := u.Apply(ctx, "0.2.0")
	if err != nil {
		t.Fatal(err)
	}
	want := Installed{Version: "0.2.0", Path: filepath.Join(dir, "bin/0.2.0/mirrord")}
	if inst != want {
		t.Fatalf("Apply 0.2.0: %+v, want %+v", inst, want)
	}
	st, err := os.Stat(inst.Path)
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("installed binary: %v, %v", st, err)
	}
	if got := installedBinary(t, dir); got != string(s.bins["0.2.0"]) {
		t.Fatal("current does not run the 0.2.0 binary")
	}

	// "" is the latest.
	inst, err = u.Apply(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if inst.Version != "0.3.0" || inst.Previous != "0.2.0" {
		t.Fatalf("Apply latest: %+v", inst)
	}
	if cur, _ := u.Current(); cur != inst {
		t.Fatalf("Current %+v, want %+v", cur, inst)
	}

	// Re-applying an installed version does not download it again.
	before := s.downloads.Load()
	if _, err := u.Apply(ctx, "0.2.0"); err != nil {
		t.Fatal(err)
	}
	if s.downloads.Load() != before {
		t.Fatal("an installed version was downloaded again")
	}
	if _, err := u.Apply(ctx, "0.3.0"); err != nil {
		t.Fatal(err)
	}

	inst, err = u.Rollback()
	if err != nil {
		t.Fatal(err)
	}
	if inst.Version != "0.2.0" || inst.Previous != "0.3.0" {
		t.Fatalf("Rollback: %+v", inst)
	}
	if got := installedBinary(t, dir); got != string(s.bins["0.2.0"]) {
		t.Fatal("after rollback, current does not run 0.2.0")
	}
	// A second rollback undoes the first.
	if inst, err = u.Rollback(); err != nil || inst.Version != "0.3.0" {
		t.Fatalf("second Rollback: %+v, %v", inst, err)
	}
	noLeftovers(t, dir)
}

func TestRollbackWithoutPrevious(t *testing.T) {
	s := newFeedServer(t, "0.2.0")
	u, _ := newUpdater(t, s, "0.1.0")
	if _, err := u.Rollback(); err == nil || !strings.Contains(err.Error(), "no previous version") {
		t.Fatalf("Rollback with nothing installed: %v", err)
	}
	if _, err := u.Apply(context.Background(), "0.2.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Rollback(); err == nil || !strings.Contains(err.Error(), "no previous version") {
		t.Fatalf("Rollback after one install: %v", err)
	}
}

// TestApplyRefused: a corrupt or interrupted download, or an unknown
// version, leaves the installed binary as it was and no partial file.
func TestApplyRefused(t *testing.T) {
	tests := []struct {
		name    string
		breakIt func(s *feedServer)
		version string
		err     string
	}{
		{name: "checksum mismatch", breakIt: func(s *feedServer) { s.corrupt["0.2.0"] = true }, version: "0.2.0", err: "checksum mismatch"},
		{name: "interrupted download", breakIt: func(s *feedServer) { s.cut["0.2.0"] = true }, version: "0.2.0", err: "interrupted"},
		{name: "missing binary", breakIt: func(*feedServer) {}, version: "9.9.9", err: "not in the release feed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newFeedServer(t, "0.1.0", "0.2.0")
			u, dir := newUpdater(t, s, "0.1.0")
			if _, err := u.Apply(context.Background(), "0.1.0"); err != nil {
				t.Fatal(err)
			}
			tt.breakIt(s)
			_, err := u.Apply(context.Background(), tt.version)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Apply: %v, want %q", err, tt.err)
			}
			if got := installedBinary(t, dir); got != string(s.bins["0.1.0"]) {
				t.Fatal("the installed binary changed")
			}
			if cur, _ := u.Current(); cur.Version != "0.1.0" {
				t.Fatalf("Current %+v, want 0.1.0", cur)
			}
			if _, err := os.Stat(filepath.Join(dir, "bin/0.2.0")); !os.IsNotExist(err) {
				t.Errorf("bin/0.2.0 exists after a failed install: %v", err)
			}
			noLeftovers(t, dir)
			// Once the server is fixed, the same install works.
			s.corrupt["0.2.0"], s.cut["0.2.0"] = false, false
			if tt.version == "0.2.0" {
				if _, err := u.Apply(context.Background(), "0.2.0"); err != nil {
					t.Fatalf("Apply after the fix: %v", err)
				}
			}
		})
	}
}

func TestApplyCancelled(t *testing.T) {
	s := newFeedServer(t, "0.2.0")
	u, dir := newUpdater(t, s, "0.1.0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := u.Apply(ctx, "0.2.0"); err == nil {
		t.Fatal("Apply with a cancelled context: no error")
	}
	if _, err := os.Lstat(filepath.Join(dir, "current")); !os.IsNotExist(err) {
		t.Fatalf("current exists after a cancelled install: %v", err)
	}
	noLeftovers(t, dir)
}
