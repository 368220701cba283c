// Package fsroute decides, for one path and one kind of access, whether a
// file operation of the local program is served locally, by the target
// pod, or answered "not found". It is pure (no syscalls, no agent) so the
// whole decision table can be tested with golden cases; the supervisor only
// asks it and acts.
//
// The order of evaluation follows upstream mirrord's ensure_remote
// (reference §3.3): mapping first, then the user's not_found, read_write,
// read_only and local patterns, then the default not-found, remote and
// local sets, then the mode.
package fsroute

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/mirrord-go/mirrord/schema"
)

// Outcome is where an operation goes.
type Outcome int

const (
	// Local: the kernel runs the call (CONTINUE).
	Local Outcome = iota
	// Remote: the target pod serves the call.
	Remote
	// NotFound: the call fails with ENOENT.
	NotFound
)

func (o Outcome) String() string {
	return [...]string{"local", "remote", "not found"}[o]
}

// Access is the kind of operation.
type Access int

const (
	// Read covers open for reading, stat, access and readlink.
	Read Access = iota
	// Write covers open with a write flag (O_WRONLY, O_RDWR, O_CREAT,
	// O_TRUNC, O_APPEND).
	Write
)

// Decision is the router's answer.
type Decision struct {
	Outcome Outcome
	// Path is the path to use: after mapping, and absolute when it could
	// be made so.
	Path string
	// Why names the rule that decided, for logs and `mirrord` diagnostics.
	Why string
}

// Env is what the default patterns are computed from.
type Env struct {
	// Home is $HOME of the program ("" skips the home-relative defaults).
	Home string
	// Cwd is the program's starting directory; it and everything below it
	// stay local.
	Cwd string
	// Exe is the program's path; it stays local.
	Exe string
	// TmpDir is $TMPDIR when set.
	TmpDir string
}

type mapping struct {
	re   *regexp.Regexp
	repl string
}

// Router routes paths. It is immutable and safe for concurrent use.
type Router struct {
	mode        string
	mappings    []mapping
	notFound    []matcher
	readWrite   []matcher
	readOnly    []matcher
	local       []matcher
	defNotFound []matcher
	defRemote   []matcher
	defLocal    []matcher
}

// New compiles cfg. Patterns are case-insensitive, as upstream's are.
// Errors name the config key and the pattern.
func New(cfg schema.FSConfig, env Env) (*Router, error) {
	r := &Router{mode: cfg.Mode}
	if r.mode == "" {
		r.mode = schema.FSRead
	}
	switch r.mode {
	case schema.FSRead, schema.FSWrite, schema.FSLocal, schema.FSLocalWithOverrides:
	default:
		return nil, fmt.Errorf("feature.fs.mode %q is not one of read, write, local, localwithoverrides", cfg.Mode)
	}
	var err error
	compile := func(key string, pats []string) []matcher {
		out := make([]matcher, 0, len(pats))
		for _, p := range pats {
			m, _, cerr := compileMatcher(p)
			if cerr != nil {
				if err == nil {
					err = fmt.Errorf("%s: pattern %q: %w", key, p, cerr)
				}
				continue
			}
			out = append(out, m)
		}
		return out
	}
	r.notFound = compile("feature.fs.not_found", cfg.NotFound)
	r.readWrite = compile("feature.fs.read_write", cfg.ReadWrite)
	r.readOnly = compile("feature.fs.read_only", cfg.ReadOnly)
	r.local = compile("feature.fs.local", cfg.Local)
	keys := make([]string, 0, len(cfg.Mapping))
	for k := range cfg.Mapping {
		keys = append(keys, k)
	}
	// A JSON object has no order; sorting keeps the first-match rule
	// deterministic.
	slices.Sort(keys)
	for _, k := range keys {
		re, cerr := regexp.Compile("(?i)" + k)
		if cerr != nil {
			return nil, fmt.Errorf("feature.fs.mapping: pattern %q: %w", k, cerr)
		}
		r.mappings = append(r.mappings, mapping{re: re, repl: cfg.Mapping[k]})
	}
	r.defNotFound = compile("default not-found set", defaultNotFound(env))
	r.defRemote = compile("default remote set", defaultRemote)
	r.defLocal = compile("default local set", defaultLocal(env))
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Mode is the effective feature.fs.mode.
func (r *Router) Mode() string { return r.mode }

func matchAny(ms []matcher, p, lower string) bool {
	for _, m := range ms {
		if m.match(p, lower) {
			return true
		}
	}
	return false
}

// Map applies feature.fs.mapping: the first matching regex rewrites the
// path.
func (r *Router) Map(p string) string {
	for _, m := range r.mappings {
		if m.re.MatchString(p) {
			return m.re.ReplaceAllString(p, m.repl)
		}
	}
	return p
}

// Route decides for an absolute path.
func (r *Router) Route(p string, acc Access) Decision {
	if r.mode == schema.FSLocal {
		return Decision{Local, p, "feature.fs.mode local"}
	}
	p = r.Map(p)
	lower := strings.ToLower(p)
	d := func(o Outcome, why string) Decision { return Decision{o, p, why} }
	switch {
	case matchAny(r.notFound, p, lower):
		return d(NotFound, "feature.fs.not_found")
	case matchAny(r.readWrite, p, lower):
		return d(Remote, "feature.fs.read_write")
	case matchAny(r.readOnly, p, lower):
		if acc == Write {
			return d(Local, "feature.fs.read_only (writes stay local)")
		}
		return d(Remote, "feature.fs.read_only")
	case matchAny(r.local, p, lower):
		return d(Local, "feature.fs.local")
	case matchAny(r.defNotFound, p, lower):
		return d(NotFound, "default not-found set")
	case acc == Read && matchAny(r.defRemote, p, lower):
		return d(Remote, "default remote set")
	case matchAny(r.defLocal, p, lower):
		return d(Local, "default local set")
	}
	switch r.mode {
	case schema.FSWrite:
		return d(Remote, "feature.fs.mode write")
	case schema.FSRead:
		if acc == Write {
			return d(Local, "feature.fs.mode read (writes stay local)")
		}
		return d(Remote, "feature.fs.mode read")
	}
	return d(Local, "feature.fs.mode localwithoverrides")
}

// RouteAt decides for a path given relative to a directory, as the *at
// syscalls and relative paths do. base is the directory (the caller's
// working directory or the dirfd's path); baseRemote says the directory is
// a remote one (an fd the supervisor opened on the pod).
//
// As upstream: a relative path under a local directory stays local, except
// that not_found patterns still apply, here to the joined absolute path,
// so that `cd ~ && cat .kube/config` is not found either.
func (r *Router) RouteAt(base string, baseRemote bool, p string, acc Access) Decision {
	if path.IsAbs(p) {
		return r.Route(path.Clean(p), acc)
	}
	full := path.Join(base, p)
	if baseRemote {
		return r.Route(full, acc)
	}
	if r.mode != schema.FSLocal {
		lower := strings.ToLower(full)
		if matchAny(r.notFound, full, lower) {
			return Decision{NotFound, full, "feature.fs.not_found"}
		}
		if matchAny(r.defNotFound, full, lower) {
			return Decision{NotFound, full, "default not-found set"}
		}
	}
	return Decision{Local, p, "relative to a local directory"}
}

// IsWrite reports whether open flags ask for write access.
func IsWrite(flags uint64) bool {
	const w = 0x1 | 0x2 | 0x40 | 0x200 | 0x400 // O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND
	return flags&w != 0
}

// escape quotes a literal path for a regex.
func escape(s string) string { return regexp.QuoteMeta(strings.TrimSuffix(s, "/")) }
