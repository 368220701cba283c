package fsroute

import "path"

// Upstream mirrord's default sets for Linux (layer-lib/src/file/unix,
// reference §3.3). Keeping them identical means a config that works with
// upstream routes the same files here.

// defaultRemote is read remotely in every non-local mode: what makes the
// program resolve and identify itself as the pod does.
var defaultRemote = []string{
	`^/etc/resolv\.conf$`,
	`^/etc/hosts$`,
	`^/etc/hostname$`,
	`^/etc/ssl/certs(/|$)`,
}

var defaultLocalStatic = []string{
	// Code and tooling files, by extension.
	`.\.so$`, `.\.sh$`, `.\.rb$`, `.\.d$`, `.\.pyc$`, `.\.py$`, `.\.jar$`, `.\.class$`,
	`.\.js$`, `.\.pth$`, `.\.plist$`, `venv\.cfg$`,
	// System prefixes.
	`^/proc(/|$)`, `^/sys(/|$)`, `^/lib(/|$)`, `^/etc(/|$)`, `^/usr(/|$)`, `^/home(/|$)`,
	`^/bin(/|$)`, `^/sbin(/|$)`, `^/dev(/|$)`, `^/opt(/|$)`, `^/tmp(/|$)`, `^/var/tmp(/|$)`,
	`^/var/db/timezone/zoneinfo(/|$)`, `^/snap(/|$)`, `^/run(/|$)`, `^/selinux(/|$)`, `^/nix(/|$)`,
	// Tooling and runtimes.
	`.+\.asdf/.+`, `^/home/iojs(/|$)`, `^/home/runner(/|$)`, `clr-.*-pipe-`, `\.pdb$`, `\.dll$`,
	`.*(^|/)jvm\.cfg$`, `/package\.json$`, `/\.yarnrc$`, `/\.yarnrc.yml$`, `/\.yarnrc.json$`,
	`/node_modules`, `.*/\.tool-versions$`, `^/Program Files`,
	// The root directory itself.
	`^/$`,
}

// defaultLocal adds the sets computed from the program's environment.
func defaultLocal(env Env) []string {
	out := append([]string(nil), defaultLocalStatic...)
	if env.TmpDir != "" {
		out = append(out, `^`+escape(env.TmpDir))
	}
	if env.Cwd != "" && env.Cwd != "/" {
		out = append(out, `^`+escape(env.Cwd)+`(/|$)`)
		// Its ancestors too, exactly: resolving a path under the working
		// directory (realpath, Node's module loader) stats each of them.
		for d := path.Dir(env.Cwd); d != "/" && d != "."; d = path.Dir(d) {
			out = append(out, `^`+escape(d)+`$`)
		}
	}
	if env.Exe != "" {
		out = append(out, escape(env.Exe)+`$`)
	}
	if env.Home != "" && env.Home != "/" {
		out = append(out, `^`+escape(env.Home)+`/\.`)
	}
	return out
}

// defaultNotFound keeps local cloud credentials out of the remote view.
func defaultNotFound(env Env) []string {
	if env.Home == "" || env.Home == "/" {
		return nil
	}
	h := `^` + escape(env.Home) + `/`
	return []string{h + `\.config/gcloud`, h + `\.kube`, h + `\.azure`}
}
