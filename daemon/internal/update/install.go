package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	binName      = "mirrord"
	currentLink  = "current"
	previousLink = "previous"
	lockName     = ".update.lock"
)

// Apply installs version ("" means the latest release) and makes it
// current; the version it replaces becomes the one Rollback returns to.
// A version already installed (and intact) is not downloaded again.
func (u *Updater) Apply(ctx context.Context, version string) (Installed, error) {
	p := Policy{Auto: true}
	if version != "" {
		p = Policy{Pinned: version}
	}
	rel, err := u.wanted(ctx, p)
	if err != nil {
		return Installed{}, err
	}
	unlock, err := u.lock()
	if err != nil {
		return Installed{}, err
	}
	defer unlock()
	bin := u.binPath(rel.Version)
	if ok, _ := fileHasSHA256(bin, rel.SHA256); !ok {
		if err := u.download(ctx, rel, bin); err != nil {
			return Installed{}, err
		}
	}
	return u.switchTo(rel.Version)
}

// Rollback makes the previous version current again (and the current one
// previous, so a second Rollback undoes the first).
func (u *Updater) Rollback() (Installed, error) {
	unlock, err := u.lock()
	if err != nil {
		return Installed{}, err
	}
	defer unlock()
	prev, err := u.linked(previousLink)
	if err != nil {
		return Installed{}, err
	}
	if prev == "" {
		return Installed{}, fmt.Errorf("update: no previous version to roll back to in %s", u.cfg.DataDir)
	}
	if _, err := os.Stat(u.binPath(prev)); err != nil {
		return Installed{}, fmt.Errorf("update: previous version %s is no longer installed: %w", prev, err)
	}
	return u.switchTo(prev)
}

// Current returns the binary IDEs should run: the installed current
// version, or, when none was ever installed, the running executable
// (Previous is then empty).
func (u *Updater) Current() (Installed, error) {
	cur, err := u.linked(currentLink)
	if err != nil {
		return Installed{}, err
	}
	if cur == "" {
		exe, err := os.Executable()
		if err != nil {
			return Installed{}, fmt.Errorf("update: locating the running binary: %w", err)
		}
		return Installed{Version: u.cfg.Current, Path: exe}, nil
	}
	prev, err := u.linked(previousLink)
	if err != nil {
		return Installed{}, err
	}
	return Installed{Version: cur, Path: u.binPath(cur), Previous: prev}, nil
}

func (u *Updater) binPath(version string) string {
	return filepath.Join(u.cfg.DataDir, "bin", display(canonical(version)), binName)
}

// linked reads a version symlink ("current", "previous"): "" when absent.
func (u *Updater) linked(name string) (string, error) {
	target, err := os.Readlink(filepath.Join(u.cfg.DataDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("update: reading %s: %w", filepath.Join(u.cfg.DataDir, name), err)
	}
	// The target is bin/<version>/mirrord, relative to the data dir.
	parts := strings.Split(filepath.ToSlash(target), "/")
	if len(parts) != 3 || parts[0] != "bin" || parts[2] != binName || canonical(parts[1]) == "" {
		return "", fmt.Errorf("update: %s points at %q, not at an installed version; remove it to reset", filepath.Join(u.cfg.DataDir, name), target)
	}
	return parts[1], nil
}

// switchTo points current at version and previous at what current was.
// Each link is replaced by renaming a new link over it, which is atomic:
// a reader sees the old binary or the new one, never none.
func (u *Updater) switchTo(version string) (Installed, error) {
	version = display(canonical(version))
	old, err := u.linked(currentLink)
	if err != nil {
		return Installed{}, err
	}
	if old != "" && old != version {
		if err := u.setLink(previousLink, old); err != nil {
			return Installed{}, err
		}
	}
	if err := u.setLink(currentLink, version); err != nil {
		return Installed{}, err
	}
	prev, err := u.linked(previousLink)
	if err != nil {
		return Installed{}, err
	}
	return Installed{Version: version, Path: u.binPath(version), Previous: prev}, nil
}

func (u *Updater) setLink(name, version string) error {
	dst := filepath.Join(u.cfg.DataDir, name)
	tmp := dst + ".tmp"
	_ = os.Remove(tmp) // left by a crash; we hold the lock
	if err := os.Symlink(filepath.Join("bin", version, binName), tmp); err != nil {
		return fmt.Errorf("update: linking %s: %w", dst, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("update: switching %s to %s: %w", dst, version, err)
	}
	return syncDir(u.cfg.DataDir)
}

// download fetches rel into bin through a temp file in the same directory,
// verifying size and sha256 before the file gets its final name. On any
// failure nothing is left behind.
func (u *Updater) download(ctx context.Context, rel Release, bin string) (err error) {
	if len(rel.SHA256) != sha256.Size*2 {
		return fmt.Errorf("update: release %s has no valid sha256 in the feed %s; refusing to install an unverified binary", rel.Version, u.feed)
	}
	dir := filepath.Dir(bin)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("update: creating %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return fmt.Errorf("update: creating a temp file in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
			_ = os.Remove(dir) // only if empty: another version's files stay
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rel.URL, nil)
	if err != nil {
		return fmt.Errorf("update: downloading %s: %w", rel.URL, err)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return fmt.Errorf("update: downloading mirrord %s from %s: %w", rel.Version, rel.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("update: downloading mirrord %s from %s: HTTP %s", rel.Version, rel.URL, resp.Status)
	}
	body := io.Reader(resp.Body)
	if rel.Size > 0 {
		body = io.LimitReader(resp.Body, rel.Size+1)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), body)
	if err != nil {
		return fmt.Errorf("update: downloading mirrord %s from %s: interrupted after %d bytes: %w; the installed binary is unchanged", rel.Version, rel.URL, n, err)
	}
	if rel.Size > 0 && n != rel.Size {
		return fmt.Errorf("update: mirrord %s from %s is %d bytes, the feed says %d; the download was discarded and the installed binary is unchanged", rel.Version, rel.URL, n, rel.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != rel.SHA256 {
		return fmt.Errorf("update: checksum mismatch for mirrord %s from %s: sha256 %s, the feed says %s; the download was discarded and the installed binary is unchanged", rel.Version, rel.URL, got, rel.SHA256)
	}
	if err := tmp.Chmod(0o755); err != nil {
		return fmt.Errorf("update: making %s executable: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("update: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("update: writing %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return fmt.Errorf("update: installing %s: %w", bin, err)
	}
	return syncDir(dir)
}

// fileHasSHA256 tells whether path exists with the given digest.
func fileHasSHA256(path, want string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, err
	}
	return hex.EncodeToString(h.Sum(nil)) == want, nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("update: syncing %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("update: syncing %s: %w", dir, err)
	}
	return nil
}

// lock takes the data directory's update lock, so two daemons (of two
// builds, on two sockets) never interleave installs.
func (u *Updater) lock() (func(), error) {
	if err := os.MkdirAll(u.cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("update: creating data directory %s: %w", u.cfg.DataDir, err)
	}
	path := filepath.Join(u.cfg.DataDir, lockName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("update: opening lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("update: locking %s: %w", path, err)
	}
	return func() {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		_ = f.Close()
	}, nil
}
