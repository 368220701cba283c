package layer

import "github.com/mirrord-go/mirrord/schema"

// buildTools is upstream's built-in list for skip_build_tools.
var buildTools = []string{
	"as", "cc", "ld", "go", "air", "asm", "cc1", "cgo", "dlv", "gcc", "git", "link", "math", "cargo", "hpack",
	"rustc", "compile", "collect2", "cargo-watch", "debugserver", "jspawnhelper", "bazel-real", "clang",
}

// SkipNames is the executable names whose processes run unmodified, from
// skip_processes, skip_build_tools and skip_extra_build_tools (the latter
// only with skip_build_tools on), plus JetBrains' debugger worker, which
// upstream always skips. A name matches the basename of the executable or
// of argv[0]; names may use * and ? wildcards. The decision is per program
// image: a fork shares it and an execve makes it again, so `go run .`
// skips the go tool and not the program it starts.
func SkipNames(cfg *schema.Config) []string {
	names := append([]string{"*JetBrains.Debugger.Worker"}, cfg.SkipProcesses...)
	if cfg.SkipBuildTools {
		names = append(names, buildTools...)
		names = append(names, cfg.SkipExtraBuildTools...)
	}
	return names
}
