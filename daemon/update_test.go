package daemon_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/daemon"
	"github.com/mirrord-go/mirrord/daemon/api"
)

// TestUpdateMethods drives update/check and update/apply over the RPC
// against a local release feed (the updater's own cases are in
// internal/update).
func TestUpdateMethods(t *testing.T) {
	good := []byte("#!/bin/sh\necho mirrord 0.9.0\n")
	sum := sha256.Sum256(good)
	mux := http.NewServeMux()
	mux.HandleFunc("/feed.json", func(w http.ResponseWriter, _ *http.Request) {
		asset := func(name, digest string) string {
			return fmt.Sprintf(`{"os":%q,"arch":%q,"url":%q,"sha256":%q}`, runtime.GOOS, runtime.GOARCH, name, digest)
		}
		fmt.Fprintf(w, `{"releases":[{"version":"0.9.0","assets":[%s]},{"version":"0.8.0","assets":[%s]}]}`,
			asset("good", hex.EncodeToString(sum[:])), asset("good", strings.Repeat("0", 64)))
	})
	mux.HandleFunc("/good", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(good) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	data := t.TempDir()
	opts := testOptions(nil)
	opts.Deps = daemon.DefaultDeps(daemon.UpdateOptions{FeedURL: srv.URL + "/feed.json", DataDir: data})
	f := pipeFixture(t, opts)

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"check, disabled", func(t *testing.T) {
			r := call(t, f, api.UpdateCheck, api.UpdateCheckParams{UpdatePolicy: api.UpdatePolicy{AutoUpdate: false}})
			if r.Available {
				t.Fatalf("disabled policy offered %+v", r)
			}
		}},
		{"check, pinned", func(t *testing.T) {
			r := call(t, f, api.UpdateCheck, api.UpdateCheckParams{UpdatePolicy: api.UpdatePolicy{AutoUpdate: "0.9.0"}})
			if !r.Available || r.Latest != "0.9.0" {
				t.Fatalf("pinned 0.9.0: %+v", r)
			}
		}},
		{"apply, pinned", func(t *testing.T) {
			r := call(t, f, api.UpdateApply, api.UpdateApplyParams{UpdatePolicy: api.UpdatePolicy{AutoUpdate: "0.9.0"}})
			b, err := os.ReadFile(r.Path)
			if r.Version != "0.9.0" || !strings.HasPrefix(r.Path, data) || err != nil || string(b) != string(good) {
				t.Fatalf("apply: %+v, read %q, %v", r, b, err)
			}
		}},
		{"apply refuses a checksum mismatch", func(t *testing.T) {
			e := callErr(t, f, api.UpdateApply, api.UpdateApplyParams{UpdatePolicy: api.UpdatePolicy{AutoUpdate: "0.8.0"}})
			if !strings.Contains(e.Message, "checksum") {
				t.Fatalf("apply of a corrupt asset: %v", e)
			}
			r := call(t, f, api.UpdateCheck, api.UpdateCheckParams{UpdatePolicy: api.UpdatePolicy{AutoUpdate: "0.9.0"}})
			if b, err := os.ReadFile(r.Path); r.Path != "" && (err != nil || string(b) != string(good)) {
				t.Fatalf("after a refused apply the installed binary is %q (%v)", b, err)
			}
		}},
		{"binaryPath wins", func(t *testing.T) {
			r := call(t, f, api.UpdateCheck, api.UpdateCheckParams{UpdatePolicy: api.UpdatePolicy{AutoUpdate: true, BinaryPath: "/opt/mine/mirrord"}})
			if r.Available || r.Path != "/opt/mine/mirrord" {
				t.Fatalf("binaryPath: %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}
