package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/mirrord-go/mirrord/daemon/internal/rundir"
	"github.com/mirrord-go/mirrord/internal/buildinfo"
)

// Run serves the daemon on opts.Socket until ctx is done, the idle
// timeout passes or a client calls daemon/stop. A socket that answers
// means a daemon already runs there, which is an error; one that does not
// answer is left over from a killed daemon and is replaced.
func Run(ctx context.Context, opts Options) error {
	if opts.Socket == "" {
		return errors.New("daemon: no socket path given")
	}
	if nc, err := net.DialTimeout("unix", opts.Socket, time.Second); err == nil {
		nc.Close()
		return fmt.Errorf("a daemon already answers on %s: stop it with 'mirrord daemon stop'", opts.Socket)
	}
	if err := os.Remove(opts.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the stale daemon socket %s: %w", opts.Socket, err)
	}
	ln, err := net.Listen("unix", opts.Socket)
	if err != nil {
		return fmt.Errorf("listening on the daemon socket %s: %w", opts.Socket, err)
	}
	if err := os.Chmod(opts.Socket, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("restricting the daemon socket %s to its owner: %w", opts.Socket, err)
	}
	slog.Info("daemon listening", "socket", opts.Socket, "pid", os.Getpid(), "version", buildinfo.Version, "idle_timeout", opts.IdleTimeout)
	err = New(opts).Serve(ctx, ln)
	slog.Info("daemon stopped", "err", err)
	return err
}

// LogFile is the log of the daemon serving socket: one per build, in the
// user's state directory ($XDG_STATE_HOME/mirrord).
func LogFile(socket string) (string, error) { return rundir.LogFile(socket) }

// OpenLog opens (appending) the daemon's log file, private to the user.
func OpenLog(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the daemon log %s: %w", path, err)
	}
	return f, nil
}
