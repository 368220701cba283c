package schema

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/dlclark/regexp2"
	"github.com/itchyny/gojq"
)

// formats validates the string formats used by the config. The same
// functions back the JSON Schema validator, so the loader and the schema
// agree on what a valid regex, jq program or JSONPath is.
var formats = map[string]func(string) error{
	// Paths and env names use Go's RE2 engine, the same syntax as Rust's
	// regex crate that upstream uses.
	"regex": func(s string) error {
		_, err := regexp.Compile(s)
		return err
	},
	// HTTP filters allow lookaround, as upstream's fancy-regex does; regexp2
	// is the engine that will run them.
	"http-regex": func(s string) error {
		_, err := regexp2.Compile(s, regexp2.RE2)
		return err
	},
	"jq": func(s string) error {
		_, err := gojq.Parse(s)
		return err
	},
	"jsonpath":       checkJSONPath,
	"traffic-filter": checkTrafficFilter,
	"dns-label": func(s string) error {
		if len(s) > 63 || !containerRE.MatchString(s) {
			return fmt.Errorf("not a valid Kubernetes namespace name (lowercase letters, digits and '-', at most 63)")
		}
		return nil
	},
}

// checkJSONPath checks the JSONPath syntax accepted by body filters: a `$`
// root followed by `.name`, `..name`, `[index]`, `['name']`, `[*]` or
// `.*` segments, and bracketed filter expressions.
func checkJSONPath(s string) error {
	if !strings.HasPrefix(s, "$") {
		return fmt.Errorf("a JSONPath query starts with $")
	}
	rest := s[1:]
	for rest != "" {
		switch {
		case strings.HasPrefix(rest, ".."):
			rest = rest[2:]
			n := identLen(rest)
			if n == 0 && !strings.HasPrefix(rest, "*") && !strings.HasPrefix(rest, "[") {
				return fmt.Errorf("expected a name after '..' in %q", s)
			}
			if strings.HasPrefix(rest, "*") {
				n = 1
			}
			rest = rest[n:]
		case rest[0] == '.':
			rest = rest[1:]
			n := identLen(rest)
			if strings.HasPrefix(rest, "*") {
				n = 1
			}
			if n == 0 {
				return fmt.Errorf("expected a name after '.' in %q", s)
			}
			rest = rest[n:]
		case rest[0] == '[':
			end, err := bracketEnd(rest)
			if err != nil {
				return fmt.Errorf("%v in %q", err, s)
			}
			if end == 1 {
				return fmt.Errorf("empty [] in %q", s)
			}
			rest = rest[end+1:]
		default:
			return fmt.Errorf("unexpected %q in %q", rest[0], s)
		}
	}
	return nil
}

func identLen(s string) int {
	n := 0
	for n < len(s) {
		c := s[n]
		if c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 {
			n++
			continue
		}
		break
	}
	return n
}

// bracketEnd finds the `]` closing the bracket at s[0], skipping quoted text
// and nested brackets.
func bracketEnd(s string) (int, error) {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '[' || c == '(':
			depth++
		case c == ']' || c == ')':
			depth--
			if depth == 0 {
				if c != ']' {
					return 0, fmt.Errorf("unbalanced ')'")
				}
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("unclosed '['")
}
