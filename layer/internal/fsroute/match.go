package fsroute

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// matcher is one compiled pattern. Route runs for every trapped path
// syscall, and a case-insensitive Go regexp costs about 200 ns even for
// `^/proc(/|$)` (folding disables the literal-prefix fast path); with some
// 50 default patterns that alone was 10 µs a call. So the shapes the
// default lists and most user patterns have are matched with plain string
// operations on the lower-cased path, and only the rest with regexp.
type matcher interface {
	// match gets the path and its lower-cased form.
	match(p, lower string) bool
}

type (
	dirPrefix struct{ lit string } // ^lit(/|$)
	exact     struct{ lit string } // ^lit$
	prefix    struct{ lit string } // ^lit
	suffix    struct {             // lit$, or .lit$ when more is set
		lit  string
		more bool
	}
	contains struct{ lit string } // lit
	// reMatch is the general case; need is a lower-case literal every
	// match contains, checked first because it rules out most paths.
	reMatch struct {
		re   *regexp.Regexp
		need string
	}
)

func (m dirPrefix) match(_, l string) bool {
	return strings.HasPrefix(l, m.lit) && (len(l) == len(m.lit) || l[len(m.lit)] == '/')
}
func (m exact) match(_, l string) bool    { return l == m.lit }
func (m prefix) match(_, l string) bool   { return strings.HasPrefix(l, m.lit) }
func (m contains) match(_, l string) bool { return strings.Contains(l, m.lit) }
func (m suffix) match(_, l string) bool {
	if !strings.HasSuffix(l, m.lit) {
		return false
	}
	if !m.more {
		return true
	}
	// "." before the literal: at least one character that is not a newline.
	rest := l[:len(l)-len(m.lit)]
	return rest != "" && rest[len(rest)-1] != '\n'
}
func (m reMatch) match(p, l string) bool {
	if m.need != "" && !strings.Contains(l, m.need) {
		return false
	}
	return m.re.MatchString(p)
}

// compileMatcher compiles a case-insensitive pattern.
func compileMatcher(pat string) (matcher, *regexp.Regexp, error) {
	re, err := regexp.Compile("(?i)" + pat)
	if err != nil {
		return nil, nil, err
	}
	if m := fastMatcher(pat); m != nil {
		return m, re, nil
	}
	return reMatch{re: re, need: requiredLiteral(pat)}, re, nil
}

// fastMatcher recognises the simple shapes, or returns nil.
func fastMatcher(pat string) matcher {
	t, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return nil
	}
	t = t.Simplify()
	var parts []*syntax.Regexp
	if t.Op == syntax.OpConcat {
		parts = t.Sub
	} else {
		parts = []*syntax.Regexp{t}
	}
	lit := func(r *syntax.Regexp) (string, bool) {
		if r.Op != syntax.OpLiteral {
			return "", false
		}
		return strings.ToLower(string(r.Rune)), true
	}
	isDirEnd := func(r *syntax.Regexp) bool { // (/|$)
		for r.Op == syntax.OpCapture {
			r = r.Sub[0]
		}
		if r.Op != syntax.OpAlternate || len(r.Sub) != 2 {
			return false
		}
		a, b := r.Sub[0], r.Sub[1]
		return a.Op == syntax.OpLiteral && string(a.Rune) == "/" && b.Op == syntax.OpEndText
	}
	switch len(parts) {
	case 1:
		if l, ok := lit(parts[0]); ok {
			return contains{l}
		}
	case 2:
		if parts[0].Op == syntax.OpBeginText {
			if l, ok := lit(parts[1]); ok {
				return prefix{l}
			}
		}
		if parts[1].Op == syntax.OpEndText {
			if l, ok := lit(parts[0]); ok {
				return suffix{lit: l}
			}
		}
	case 3:
		if parts[0].Op == syntax.OpBeginText {
			if l, ok := lit(parts[1]); ok {
				if parts[2].Op == syntax.OpEndText {
					return exact{l}
				}
				if isDirEnd(parts[2]) {
					return dirPrefix{l}
				}
			}
		}
		if parts[0].Op == syntax.OpAnyCharNotNL && parts[2].Op == syntax.OpEndText {
			if l, ok := lit(parts[1]); ok {
				return suffix{lit: l, more: true}
			}
		}
	}
	return nil
}

// requiredLiteral is the longest literal of a top-level concatenation
// (which every match must contain), lower-cased; "" if there is none.
func requiredLiteral(pat string) string {
	t, err := syntax.Parse(pat, syntax.Perl)
	if err != nil {
		return ""
	}
	t = t.Simplify()
	parts := []*syntax.Regexp{t}
	if t.Op == syntax.OpConcat {
		parts = t.Sub
	}
	best := ""
	for _, p := range parts {
		if p.Op == syntax.OpLiteral && len(string(p.Rune)) > len(best) {
			best = string(p.Rune)
		}
	}
	return strings.ToLower(best)
}
