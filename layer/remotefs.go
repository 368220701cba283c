package layer

import (
	"errors"
	"log/slog"
	"time"

	"github.com/mirrord-go/mirrord/layer/internal/remotefs"
	"github.com/mirrord-go/mirrord/layer/internal/supervisor"
	"github.com/mirrord-go/mirrord/schema"
)

// mountRemoteFS mounts the pod's filesystem for a session whose fs mode
// reads anything remotely. When FUSE cannot be used the supervisor falls
// back to read-only memory snapshots, and the user is told why. The
// returned unmount is never nil and must run on every exit path: a mount
// left behind outlives mirrord as a dead directory.
func mountRemoteFS(remote Remote, fsCfg schema.FSConfig, timeout time.Duration, log *slog.Logger) (supervisor.TwinFS, func()) {
	if fsCfg.Mode == schema.FSLocal {
		return nil, func() {}
	}
	fsys, err := remotefs.Mount(remotefs.Options{Remote: remote, Timeout: timeout, Logger: log})
	if errors.Is(err, remotefs.ErrNoAgentFS) {
		// The supervisor says so on the first remote open.
		return nil, func() {}
	}
	if err != nil {
		log.Warn("remote files are served as read-only copies (no writes, no directory listings, at most 256 MiB each): " + err.Error())
		return nil, func() {}
	}
	return fsys, func() {
		if err := fsys.Unmount(); err != nil {
			log.Warn(err.Error())
		}
	}
}

// SweepStaleMounts removes the remote-filesystem mounts that killed
// mirrord processes left behind in the temp dir. Mounting does it too;
// this is for whoever kills a runner on purpose (tests, a cleanup
// command).
func SweepStaleMounts(log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	remotefs.SweepStale("", log)
}
