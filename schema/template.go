package schema

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"

	"github.com/osteele/liquid"
)

// Templates: upstream renders config files with Tera. We render them with
// Liquid (github.com/osteele/liquid), after rewriting the Tera forms that
// upstream's documentation uses into their Liquid equivalents, so templates
// written for upstream keep working:
//
//	{{ get_env(name="X", default="d") }}  ->  {{ "X" | get_env_or: "d" }}
//	{{ x | default(value="d") }}          ->  {{ x | default: "d" }}
//	{# comment #}                         ->  (removed)

var (
	tagRE     = regexp.MustCompile(`(?s)(\{\{-?|\{%-?)(.*?)(-?\}\}|-?%\})`)
	commentRE = regexp.MustCompile(`(?s)\{#.*?#\}`)
	// callRE finds `name(` at the start of a call or filter.
	callRE = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*\(`)
)

// teraFilters maps Tera filter names to Liquid ones where they differ.
var teraFilters = map[string]string{"upper": "upcase", "lower": "downcase"}

func newEngine(env func(string) (string, bool)) *liquid.Engine {
	e := liquid.NewEngine()
	e.RegisterFilter("get_env", func(name string) (string, error) {
		if v, ok := env(name); ok {
			return v, nil
		}
		return "", fmt.Errorf("environment variable %s is not set; give get_env a default, as in get_env(name=%s, default=...)", name, name)
	})
	e.RegisterFilter("get_env_or", func(name string, def any) string {
		if v, ok := env(name); ok {
			return v
		}
		return fmt.Sprint(def)
	})
	// Tera filters without arguments are written bare (`| lower`), which
	// rewriteCalls leaves as they are.
	e.RegisterFilter("lower", strings.ToLower)
	e.RegisterFilter("upper", strings.ToUpper)
	// Tera's default replaces only an undefined value, not "" or false.
	e.RegisterFilter("default", func(v, def any) any {
		if v == nil {
			return def
		}
		return v
	})
	// As in Tera, printing an undefined variable (git_branch outside a
	// branch) is an error rather than an empty string.
	e.StrictVariables()
	return e
}

// hasTemplate reports whether text needs rendering at all.
func hasTemplate(text string) bool {
	return strings.Contains(text, "{{") || strings.Contains(text, "{%") || strings.Contains(text, "{#")
}

// teraToLiquid rewrites Tera syntax inside tags, keeping line breaks so that
// positions in the rendered text match the file.
func teraToLiquid(text string) (string, error) {
	text = commentRE.ReplaceAllStringFunc(text, func(c string) string {
		return strings.Repeat("\n", strings.Count(c, "\n"))
	})
	var firstErr error
	out := tagRE.ReplaceAllStringFunc(text, func(tag string) string {
		m := tagRE.FindStringSubmatch(tag)
		// A template inside a JSON string may have its quotes escaped; the
		// whole tag is replaced by its output, so unescaping is safe.
		body, err := rewriteCalls(strings.ReplaceAll(m[2], `\"`, `"`))
		if err != nil && firstErr == nil {
			// The first tag with this text is the first that fails.
			line := 1 + strings.Count(text[:strings.Index(text, tag)], "\n")
			firstErr = &tagError{Line: line, Err: err}
		}
		return m[1] + body + m[3]
	})
	return out, firstErr
}

// tagError is a template error with the line of the tag it is in.
type tagError struct {
	Line int
	Err  error
}

func (e *tagError) Error() string { return e.Err.Error() }

// rewriteCalls turns `f(k=v, ...)` calls into Liquid filter syntax.
func rewriteCalls(expr string) (string, error) {
	var b strings.Builder
	for {
		loc := callRE.FindStringSubmatchIndex(expr)
		if loc == nil || inQuotes(expr[:loc[0]]) {
			b.WriteString(expr)
			return b.String(), nil
		}
		name := expr[loc[2]:loc[3]]
		end, args, err := parseArgs(expr[loc[1]:])
		if err != nil {
			return "", fmt.Errorf("template call %s(...): %w", name, err)
		}
		before := expr[:loc[0]]
		isFilter := strings.HasSuffix(strings.TrimRight(before, " \t"), "|")
		b.WriteString(before)
		switch {
		case name == "get_env" && !isFilter:
			n, ok := args.get("name")
			if !ok {
				return "", fmt.Errorf("get_env needs name=\"VARIABLE\"")
			}
			if def, ok := args.get("default"); ok {
				fmt.Fprintf(&b, "%s | get_env_or: %s", n, def)
			} else {
				fmt.Fprintf(&b, "%s | get_env", n)
			}
		case isFilter:
			if l, ok := teraFilters[name]; ok {
				name = l
			}
			b.WriteString(name)
			if len(args.order) > 0 {
				vals := make([]string, 0, len(args.order))
				for _, k := range args.order {
					vals = append(vals, args.m[k])
				}
				b.WriteString(": " + strings.Join(vals, ", "))
			}
		default:
			return "", fmt.Errorf("unknown template function %q (supported: get_env)", name)
		}
		expr = expr[loc[1]+end:]
	}
}

func inQuotes(s string) bool {
	return strings.Count(s, `"`)%2 == 1 || strings.Count(s, `'`)%2 == 1
}

// parseArgs reads `k=v, k2=v2)` and returns the length consumed.
func parseArgs(s string) (int, argMap, error) {
	args := argMap{m: map[string]string{}}
	var key, cur strings.Builder
	inKey := true
	var quote byte
	flush := func() error {
		k, v := strings.TrimSpace(key.String()), strings.TrimSpace(cur.String())
		if k == "" && v == "" {
			return nil
		}
		if k == "" || v == "" {
			return fmt.Errorf("arguments are written name=value")
		}
		args.m[k] = v
		args.order = append(args.order, k)
		key.Reset()
		cur.Reset()
		inKey = true
		return nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			cur.WriteByte(c)
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
			cur.WriteByte(c)
		case c == '=' && inKey:
			inKey = false
		case c == ',':
			if err := flush(); err != nil {
				return 0, args, err
			}
		case c == ')':
			if err := flush(); err != nil {
				return 0, args, err
			}
			return i + 1, args, nil
		case inKey:
			key.WriteByte(c)
		default:
			cur.WriteByte(c)
		}
	}
	return 0, args, fmt.Errorf("missing ')'")
}

// argMap keeps keyword arguments with their order.
type argMap struct {
	m     map[string]string
	order []string
}

func (a argMap) get(k string) (string, bool) { v, ok := a.m[k]; return v, ok }

// gitBranch returns the branch for {{ git_branch }}: MIRRORD_BRANCH_NAME,
// else the checkout's current branch; ok is false when detached or not a repo.
func gitBranch(env func(string) (string, bool), dir string) (string, bool) {
	if b, ok := env("MIRRORD_BRANCH_NAME"); ok && b != "" {
		return b, true
	}
	cmd := exec.Command("git", "rev-parse", "--abbrev-ref", "HEAD")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.Output()
	b := strings.TrimSpace(string(out))
	if err != nil || b == "" || b == "HEAD" {
		return "", false
	}
	return b, true
}
