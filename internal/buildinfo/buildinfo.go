// Package buildinfo holds the version stamped into the binary at link time,
// so every command and the daemon report the same one.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Version is set with -ldflags "-X .../buildinfo.Version=x.y.z".
var Version = "0.0.0-dev"

// Hash returns a short hash identifying this build (the VCS revision when
// known, else a hash of the build settings), used to name per-build sockets.
var Hash = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return s.Value[:12]
		}
	}
	return Version
})
