// Package rundir decides where the per-user daemon lives: its socket, lock
// and log file. Both the daemon and every client compute the same paths
// from the same build, so a new binary finds (or starts) its own daemon
// and never talks to one of another version.
package rundir

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/mirrord-go/mirrord/internal/buildinfo"
)

// BuildHash names this build. buildinfo.Hash is the VCS revision when the
// binary carries one; builds without VCS stamping (make's -buildvcs=false,
// test binaries) would all share their version string, so a rebuilt binary
// would talk to the old daemon. Those are told apart by the executable's
// size and modification time, which change on every rebuild and cost one
// stat.
func BuildHash() string {
	h := buildinfo.Hash()
	if h != buildinfo.Version && h != "unknown" {
		return h
	}
	exe, err := os.Executable()
	if err != nil {
		return shortHash(h)
	}
	st, err := os.Stat(exe)
	if err != nil {
		return shortHash(h)
	}
	return shortHash(fmt.Sprintf("%s|%s|%d|%d", h, exe, st.Size(), st.ModTime().UnixNano()))
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

// Dir returns the directory holding the daemon's socket and lock, creating
// it: $XDG_RUNTIME_DIR/mirrord, else a 0700 directory named for the user
// under the temp dir. A directory that exists but belongs to someone else or
// is open to others is refused, since anyone who can write there could
// stand in for the daemon.
func Dir() (string, error) {
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		d := filepath.Join(x, "mirrord")
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("creating the daemon directory %s (under XDG_RUNTIME_DIR): %w", d, err)
		}
		return d, nil
	}
	d := filepath.Join(os.TempDir(), "mirrord-"+strconv.Itoa(os.Getuid()))
	if err := os.Mkdir(d, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("creating the daemon directory %s: %w", d, err)
	}
	if err := checkPrivate(d); err != nil {
		return "", err
	}
	return d, nil
}

func checkPrivate(d string) error {
	st, err := os.Lstat(d)
	if err != nil {
		return fmt.Errorf("checking the daemon directory %s: %w", d, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !st.IsDir() || !ok {
		return fmt.Errorf("the daemon directory %s is not a directory: remove it", d)
	}
	if int(sys.Uid) != os.Getuid() {
		return fmt.Errorf("the daemon directory %s belongs to uid %d, not to you (uid %d): remove it or set XDG_RUNTIME_DIR", d, sys.Uid, os.Getuid())
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("making the daemon directory %s private: %w", d, err)
		}
	}
	return nil
}

// Socket returns the daemon socket path of this build.
func Socket() (string, error) {
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "daemon-"+BuildHash()+".sock"), nil
}

// StateDir is the per-user state directory for logs:
// $XDG_STATE_HOME/mirrord, else ~/.local/state/mirrord.
func StateDir() (string, error) {
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the state directory: set XDG_STATE_HOME or HOME: %w", err)
		}
		base = filepath.Join(home, ".local", "state")
	}
	d := filepath.Join(base, "mirrord")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", fmt.Errorf("creating the state directory %s: %w", d, err)
	}
	return d, nil
}

// LogFile is the daemon's log for the given socket (one per build).
func LogFile(socket string) (string, error) {
	d, err := StateDir()
	if err != nil {
		return "", err
	}
	name := filepath.Base(socket)
	return filepath.Join(d, name[:len(name)-len(filepath.Ext(name))]+".log"), nil
}
