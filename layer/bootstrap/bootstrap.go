// Package bootstrap carries the launch bootstrap of model (b): a tiny
// LD_PRELOAD object, built by make from c/bootstrap.c and embedded in the
// mirrord binary, whose constructor joins a process to a running session
// (`mirrord runner`, layer.Server). Programs that an IDE or a shell starts
// with the session's env are then supervised from their first instruction
// after the dynamic loader, without going through `mirrord exec`.
//
// The .so is a build product, not committed: a committed binary would need
// a byte-exact freshness check, and gcc's output differs between versions.
// `make build`, `make unit`, `make lint` and `make e2e` build it first. A bare
// `go build ./...` on a fresh clone still compiles (this package embeds the
// dist directory, which always holds its README), but such a binary reports
// ErrNotBuilt when a session needs the bootstrap.
package bootstrap

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

//go:embed dist
var dist embed.FS

// FileName is the object's name inside dist.
const FileName = "libmirrord_bootstrap.so"

// ErrNotBuilt means this binary was built without the bootstrap.
var ErrNotBuilt = errors.New("this mirrord binary was built without the launch bootstrap (layer/bootstrap/dist/" + FileName +
	" was missing at build time); build mirrord with 'make build', which compiles it with gcc")

// Bytes is the embedded object.
func Bytes() ([]byte, error) {
	b, err := dist.ReadFile("dist/" + FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotBuilt
	}
	return b, err
}

// Extract writes the object to dir under a name derived from its content
// and returns the path. An existing file with that name is reused, so
// sessions of the same build share one file, and a file never changes
// under a process that has it mapped.
func Extract(dir string) (string, error) {
	b, err := Bytes()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	p := filepath.Join(dir, "mirrord-bootstrap-"+hex.EncodeToString(sum[:8])+".so")
	if cur, err := os.ReadFile(p); err == nil && sha256.Sum256(cur) == sum {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s for the launch bootstrap: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".bootstrap-*")
	if err != nil {
		return "", fmt.Errorf("writing the launch bootstrap into %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), 0o755)); err != nil {
		return "", fmt.Errorf("writing the launch bootstrap into %s: %w", dir, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return "", fmt.Errorf("installing the launch bootstrap as %s: %w", p, err)
	}
	return p, nil
}

// RuntimeDir is the per-user directory for session sockets and the
// extracted bootstrap: $XDG_RUNTIME_DIR/mirrord, or a 0700 directory named
// for the user under the temp dir.
func RuntimeDir() (string, error) {
	var d string
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		d = filepath.Join(x, "mirrord")
	} else {
		d = filepath.Join(os.TempDir(), fmt.Sprintf("mirrord-%d", os.Getuid()))
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("creating the mirrord runtime directory %s: %w", d, err)
	}
	fi, err := os.Lstat(d)
	if err != nil {
		return "", fmt.Errorf("checking the mirrord runtime directory %s: %w", d, err)
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("the mirrord runtime directory %s must be a directory only its owner can use (mode 0700); remove it or fix its mode", d)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return "", fmt.Errorf("the mirrord runtime directory %s belongs to another user; remove it", d)
	}
	return d, nil
}
