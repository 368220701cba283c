package schema

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/mirrord-go/mirrord/schema/internal/tree"
)

// Options controls how a config is resolved.
type Options struct {
	// Env looks up environment variables; nil means the process environment.
	Env func(string) (string, bool)
	// Flags are command-line overrides, keyed by the environment variable
	// each flag stands for. They win over Env, which wins over the file.
	Flags map[string]Flag
	// IDE means the target is not final yet: an IDE will let the user pick
	// one, so a missing target is not treated as targetless.
	IDE bool
	// Dir is where {{ git_branch }} is looked up; empty means the working
	// directory.
	Dir string
	// Stdin is read when the path is "-"; nil means os.Stdin.
	Stdin io.Reader
	// SchemaCheck also validates the file against the generated JSON Schema
	// and reports what it rejects that the decoder let through. The decoder
	// already enforces every schema rule (a test proves they agree), so this
	// is a second opinion for verify-config and the daemon, kept off the
	// `mirrord exec` path because it triples the load time.
	SchemaCheck bool
}

// Flag is one command-line override.
type Flag struct {
	Name  string // as the user typed it, e.g. "--agent-ttl"
	Value string
}

// Result is a resolved config with everything found wrong with it.
type Result struct {
	Config   *Config
	File     string // the file read, "" when none
	Errors   []Issue
	Warnings []Issue
}

// Err returns the errors as one error, or nil.
func (r *Result) Err() error {
	if len(r.Errors) == 0 {
		return nil
	}
	return &ConfigError{Issues: r.Errors}
}

// ConfigError is returned when a config has errors.
type ConfigError struct{ Issues []Issue }

func (e *ConfigError) Error() string {
	msgs := make([]string, len(e.Issues))
	for i, is := range e.Issues {
		msgs[i] = is.String()
	}
	return strings.Join(msgs, "\n")
}

// FormatOf picks the syntax from the file extension. No extension means JSON.
func FormatOf(path string) (tree.Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json", "":
		return tree.JSON, nil
	case ".toml":
		return tree.TOML, nil
	case ".yaml", ".yml":
		return tree.YAML, nil
	}
	return "", fmt.Errorf("unsupported config file extension %q: use .json, .toml, .yaml or .yml", filepath.Ext(path))
}

// Load reads and resolves the config at path. An empty path means no file
// (defaults, env and flags only); "-" reads standard input as JSON.
func Load(path string, opts Options) *Result {
	if path == "" {
		return LoadBytes("", nil, opts)
	}
	var data []byte
	var err error
	if path == "-" {
		in := opts.Stdin
		if in == nil {
			in = os.Stdin
		}
		data, err = io.ReadAll(io.LimitReader(in, maxConfigSize+1))
	} else {
		data, err = readFile(path)
	}
	if err != nil {
		return &Result{File: path, Config: Default(), Errors: []Issue{{File: path, Msg: err.Error()}}}
	}
	return LoadBytes(path, data, opts)
}

// maxConfigSize bounds what is read, so a wrong path (a log file, a device)
// cannot exhaust memory.
const maxConfigSize = 4 << 20

func readFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("config file not found")
		}
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("is a directory, not a config file")
	}
	if st.Size() > maxConfigSize {
		return nil, fmt.Errorf("config file is %d bytes, larger than the %d allowed", st.Size(), maxConfigSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	return data, nil
}

// LoadBytes resolves a config from data; name picks the format and names
// the file in messages. Precedence: flags > env > file > defaults.
func LoadBytes(name string, data []byte, opts Options) *Result {
	env := opts.Env
	if env == nil {
		env = os.LookupEnv
	}
	r := &Result{File: name, Config: Default()}
	fail := func(is Issue) *Result {
		is.File = name
		r.Errors = append(r.Errors, is)
		return r
	}
	format := tree.JSON
	if name != "" && name != "-" {
		f, err := FormatOf(name)
		if err != nil {
			return fail(Issue{Msg: err.Error()})
		}
		format = f
	}
	text := string(data)
	key := overrideValue("MIRRORD_KEY", env, opts.Flags)
	if hasTemplate(text) {
		rendered, is := render(text, key, env, opts.Dir)
		if is != nil {
			return fail(*is)
		}
		text = rendered
	}
	root, err := tree.Parse(format, []byte(text))
	if err != nil {
		var te *tree.Error
		if errors.As(err, &te) {
			return fail(Issue{Pos: te.Pos, Msg: te.Msg})
		}
		return fail(Issue{Msg: err.Error()})
	}
	var d decoder
	d.decode(root, "", reflect.ValueOf(r.Config).Elem(), constraints{})
	for i := range d.errs {
		d.errs[i].File = name
	}
	fileOK := len(d.errs) == 0
	d.applyOverrides(r.Config, env, func(v string) string { return "environment variable " + v })
	if len(opts.Flags) > 0 {
		d.applyOverrides(r.Config, func(v string) (string, bool) {
			f, ok := opts.Flags[v]
			return f.Value, ok
		}, func(v string) string { return "flag " + opts.Flags[v].Name })
	}
	r.Errors = d.errs
	if len(r.Errors) == 0 {
		errs, warns := verify(r.Config, opts.IDE)
		r.Errors = append(r.Errors, r.place(root, errs)...)
		r.Warnings = append(r.Warnings, r.place(root, warns)...)
	}
	if len(r.Errors) == 0 && fileOK && opts.SchemaCheck {
		// The schema is a second opinion on the file: anything it rejects
		// that the loader let through is still an error. It runs last so
		// that the loader's messages, which name the rule, come first.
		r.Errors = append(r.Errors, validateAgainstSchema(root, name)...)
	}
	r.Warnings = append(r.Warnings, r.place(root, unsupportedWarnings(d.keys))...)
	sort.SliceStable(r.Warnings, func(i, j int) bool { return r.Warnings[i].Pos.Line < r.Warnings[j].Pos.Line })
	if r.Config.Key == "" {
		r.Config.Key = generatedKey()
	}
	return r
}

// place gives issues found on the resolved config a position in the file,
// when their key is there.
func (r *Result) place(root *tree.Node, issues []Issue) []Issue {
	for i := range issues {
		if issues[i].File != "" {
			continue
		}
		issues[i].File = r.File
		// A key missing from the file (a shorthand such as "incoming":
		// "steal" has no "mode") is placed at its closest enclosing key.
		if pos, found := root.Lookup(issues[i].Path); found || pos != root.Pos {
			issues[i].Pos = pos
		}
	}
	return issues
}

func unsupportedWarnings(keys []string) []Issue {
	seen := map[string]bool{}
	var out []Issue
	sort.Strings(keys)
	for _, k := range keys {
		prefix, why := unsupportedWhy(k)
		if prefix == "" || seen[prefix] {
			continue
		}
		seen[prefix] = true
		out = append(out, Issue{Path: k, Msg: fmt.Sprintf("not supported yet: %s; the setting is accepted and ignored", why)})
	}
	return out
}

func overrideValue(env string, lookup func(string) (string, bool), flags map[string]Flag) string {
	if f, ok := flags[env]; ok {
		return f.Value
	}
	v, _ := lookup(env)
	return v
}

func render(text, key string, env func(string) (string, bool), dir string) (string, *Issue) {
	liq, err := teraToLiquid(text)
	if err != nil {
		is := &Issue{Msg: "template: " + err.Error()}
		var te *tagError
		if errors.As(err, &te) {
			is.Pos = tree.Pos{Line: te.Line, Col: 1}
		}
		return "", is
	}
	bindings := map[string]any{}
	if key == "" {
		key = generatedKey()
	}
	bindings["key"] = key
	if strings.Contains(text, "git_branch") {
		if b, ok := gitBranch(env, dir); ok {
			bindings["git_branch"] = b
		}
	}
	// Liquid counts lines from the location it is given; start at 1 so that
	// errors name the file's line.
	tpl, serr := newEngine(env).ParseTemplateLocation([]byte(liq), "", 1)
	var out string
	if serr == nil {
		out, serr = tpl.RenderString(bindings)
	}
	if serr != nil {
		is := &Issue{Msg: "template: " + unwrapLiquid(serr)}
		if line := serr.LineNumber(); line > 0 {
			is.Pos = tree.Pos{Line: line, Col: 1}
		}
		return "", is
	}
	return out, nil
}

// liquidPrefix is what Liquid puts before its messages; the line is
// reported in the issue's position instead.
var liquidPrefix = regexp.MustCompile(`^Liquid error( \(line \d+\))?: `)

// unwrapLiquid keeps the innermost message of a Liquid error.
func unwrapLiquid(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return liquidPrefix.ReplaceAllString(err.Error(), "")
		}
		err = u
	}
}

func generatedKey() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:5]
}
