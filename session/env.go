package session

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/joho/godotenv"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/schema"
)

// AlwaysLocal are variables never taken from the target: they describe the
// machine a program runs on (its PATH, HOME, language toolchains), and the
// pod's values would break the local program. Upstream's agent excludes the
// same list.
var AlwaysLocal = []string{
	"BUNDLER_ORIG_*", "BUNDLE_*", "BUNDLER_VERSION", "CATALINA_HOME", "CLASSPATH",
	"DOTNET_EnableDiagnostics", "DOTNET_STARTUP_HOOKS", "GEM_HOME", "GEM_PATH", "GOPATH",
	"GOMODCACHE", "HOME", "HOMEPATH", "JAVA_EXE", "JAVA_HOME", "JAVA_TOOL_OPTIONS", "PATH",
	"PWD", "PYTHONPATH", "RUBYLIB", "RUBYOPT", "MIRRORD_LOG", "RUST_LOG", "_JAVA_OPTIONS",
}

// Env is the result of merging: what the child process gets.
type Env struct {
	// Vars is the child's environment, KEY=value, local variables first in
	// their order, then the variables that are new.
	Vars []string
	// FromTarget are the names whose value came from the target (after
	// include/exclude), for reporting.
	FromTarget []string
	// Unset are the names removed because of feature.env.unset.
	Unset []string
}

// MergeEnv builds the child's environment from the local one and the
// target's, applying feature.env in upstream's order: the target's
// variables filtered by include/exclude (never the AlwaysLocal ones), then
// env_file, then mapping, then override; unset last, case-insensitively.
// readFile reads env_file (nil means os.ReadFile).
func MergeEnv(local []string, remote []protocol.EnvVar, cfg schema.EnvConfig, readFile func(string) ([]byte, error)) (*Env, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	keep, err := remoteFilter(cfg)
	if err != nil {
		return nil, err
	}
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range local {
		if k, v, ok := strings.Cut(kv, "="); ok {
			set(k, v)
		}
	}
	out := &Env{}
	for _, v := range remote {
		if keep(v.Name) {
			set(v.Name, v.Value)
			out.FromTarget = append(out.FromTarget, v.Name)
		}
	}
	if cfg.EnvFile != "" {
		b, err := readFile(cfg.EnvFile)
		if err != nil {
			return nil, fmt.Errorf("reading feature.env.env_file: %w", err)
		}
		m, err := godotenv.Parse(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("parsing feature.env.env_file %s: %w", cfg.EnvFile, err)
		}
		for _, k := range sortedKeys(m) {
			set(k, m[k])
		}
	}
	if err := applyMapping(cfg.Mapping, order, vals); err != nil {
		return nil, err
	}
	for _, k := range sortedKeys(cfg.Override) {
		set(k, cfg.Override[k])
	}
	unset := map[string]bool{}
	for _, u := range splitList(cfg.Unset) {
		unset[strings.ToUpper(u)] = true
	}
	for _, k := range order {
		if unset[strings.ToUpper(k)] {
			out.Unset = append(out.Unset, k)
			continue
		}
		out.Vars = append(out.Vars, k+"="+vals[k])
	}
	return out, nil
}

// remoteFilter returns which target variables are taken.
func remoteFilter(cfg schema.EnvConfig) (func(string) bool, error) {
	always, err := globs(AlwaysLocal)
	if err != nil {
		return nil, err
	}
	include, err := globs(cfg.Include)
	if err != nil {
		return nil, fmt.Errorf("feature.env.include: %w", err)
	}
	exclude, err := globs(cfg.Exclude)
	if err != nil {
		return nil, fmt.Errorf("feature.env.exclude: %w", err)
	}
	return func(name string) bool {
		if always.MatchString(name) {
			return false
		}
		if len(cfg.Include) > 0 && !include.MatchString(name) {
			return false
		}
		return len(cfg.Exclude) == 0 || !exclude.MatchString(name)
	}, nil
}

// globs compiles `*`/`?` patterns into one anchored regexp. An empty list
// matches nothing.
func globs(patterns []string) (*regexp.Regexp, error) {
	if len(patterns) == 0 {
		return regexp.MustCompile(`^\b$`), nil // never matches a name
	}
	parts := make([]string, 0, len(patterns))
	for _, p := range splitList(patterns) {
		q := regexp.QuoteMeta(p)
		q = strings.ReplaceAll(q, `\*`, `.*`)
		q = strings.ReplaceAll(q, `\?`, `.`)
		parts = append(parts, q)
	}
	return regexp.Compile(`^(?:` + strings.Join(parts, "|") + `)$`)
}

// splitList splits `;`-separated entries: an env var or flag gives the
// whole list as one string.
func splitList(patterns []string) []string {
	var out []string
	for _, p := range patterns {
		for _, q := range strings.Split(p, ";") {
			if q = strings.TrimSpace(q); q != "" {
				out = append(out, q)
			}
		}
	}
	return out
}

// applyMapping gives every variable whose name matches a pattern the
// pattern's value, with $1/${name} expanded from the name's match. Patterns
// apply in sorted order so the outcome does not depend on map order.
func applyMapping(mapping map[string]string, names []string, vals map[string]string) error {
	for _, pat := range sortedKeys(mapping) {
		re, err := regexp.Compile(pat)
		if err != nil {
			return fmt.Errorf("feature.env.mapping: bad pattern %q: %w", pat, err)
		}
		for _, name := range names {
			m := re.FindStringSubmatchIndex(name)
			if m == nil {
				continue
			}
			vals[name] = string(re.ExpandString(nil, mapping[pat], name, m))
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
