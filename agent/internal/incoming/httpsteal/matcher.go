package httpsteal

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/dlclark/regexp2"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// matchTimeout bounds one regex match. The regexes come from the user's
// config and regexp2 backtracks, so a pathological pattern such as
// `(a+)+$` against a long header could otherwise stall the request (and
// with it the client's connection) indefinitely. A timed-out match counts
// as "no match": the request then goes to the original app, which is the
// safe side to err on.
const matchTimeout = 100 * time.Millisecond

// Matcher is a compiled protocol.HTTPFilter. It is safe for concurrent use.
type Matcher struct {
	kind   matchKind
	re     *regexp2.Regexp // header, path
	method string          // method
	subs   []*Matcher      // all_of, any_of
	src    string          // for String
}

type matchKind uint8

const (
	matchHeader matchKind = iota + 1
	matchPath
	matchMethod
	matchAllOf
	matchAnyOf
)

// Compile checks f and compiles its regexes. Like upstream mirrord, a
// filter sets exactly one of header, path, method, all_of and any_of;
// combinations are spelled with all_of or any_of.
func Compile(f protocol.HTTPFilter) (*Matcher, error) {
	var set []string
	if f.Header != "" {
		set = append(set, "header")
	}
	if f.Path != "" {
		set = append(set, "path")
	}
	if f.Method != "" {
		set = append(set, "method")
	}
	if len(f.AllOf) > 0 {
		set = append(set, "all_of")
	}
	if len(f.AnyOf) > 0 {
		set = append(set, "any_of")
	}
	switch len(set) {
	case 0:
		return nil, errors.New("http filter is empty: set one of header, path, method, all_of or any_of")
	case 1:
	default:
		return nil, fmt.Errorf("http filter sets %s at once: set only one, and combine filters with all_of or any_of",
			strings.Join(set, " and "))
	}

	switch {
	case f.Header != "":
		re, err := compileRegex(f.Header)
		if err != nil {
			return nil, fmt.Errorf("http header filter: %w", err)
		}
		return &Matcher{kind: matchHeader, re: re, src: fmt.Sprintf("header=~%q", f.Header)}, nil
	case f.Path != "":
		re, err := compileRegex(f.Path)
		if err != nil {
			return nil, fmt.Errorf("http path filter: %w", err)
		}
		return &Matcher{kind: matchPath, re: re, src: fmt.Sprintf("path=~%q", f.Path)}, nil
	case f.Method != "":
		return &Matcher{kind: matchMethod, method: f.Method, src: "method=" + f.Method}, nil
	}

	kind, name, list := matchAllOf, "all_of", f.AllOf
	if len(f.AnyOf) > 0 {
		kind, name, list = matchAnyOf, "any_of", f.AnyOf
	}
	m := &Matcher{kind: kind, subs: make([]*Matcher, 0, len(list))}
	srcs := make([]string, 0, len(list))
	for i, sub := range list {
		sm, err := Compile(sub)
		if err != nil {
			return nil, fmt.Errorf("http filter %s[%d]: %w", name, i, err)
		}
		m.subs = append(m.subs, sm)
		srcs = append(srcs, sm.src)
	}
	m.src = name + "(" + strings.Join(srcs, ", ") + ")"
	return m, nil
}

// compileRegex compiles a user regex the way upstream does: case-insensitive,
// unanchored, with the lookaround and backreferences of a backtracking
// engine (regexp2 rather than Go's RE2-based regexp, which has neither).
func compileRegex(expr string) (*regexp2.Regexp, error) {
	re, err := regexp2.Compile(expr, regexp2.IgnoreCase)
	if err != nil {
		return nil, fmt.Errorf("invalid regex %q: %w", expr, err)
	}
	re.MatchTimeout = matchTimeout
	return re, nil
}

// String renders the filter for logs.
func (m *Matcher) String() string { return m.src }

// Match reports whether r is selected by the filter. It reads only the
// request line and headers, never the body.
func (m *Matcher) Match(r *http.Request) bool {
	switch m.kind {
	case matchHeader:
		return m.matchHeader(r)
	case matchPath:
		path := r.URL.EscapedPath()
		if m.matches(path) {
			return true
		}
		return (r.URL.RawQuery != "" || r.URL.ForceQuery) && m.matches(path+"?"+r.URL.RawQuery)
	case matchMethod:
		return strings.EqualFold(r.Method, m.method)
	case matchAllOf:
		for _, s := range m.subs {
			if !s.Match(r) {
				return false
			}
		}
		return true
	case matchAnyOf:
		for _, s := range m.subs {
			if s.Match(r) {
				return true
			}
		}
		return false
	}
	return false
}

// matchHeader tries each header as upstream renders it, "name: value" with
// the name in lower case (hyper's spelling; Go canonicalises names, which
// only matters for case-sensitive regex parts such as (?-i)). Host is
// included because Go moves it out of the header map into r.Host.
func (m *Matcher) matchHeader(r *http.Request) bool {
	if r.Host != "" && m.matches("host: "+r.Host) {
		return true
	}
	for name, values := range r.Header {
		lower := strings.ToLower(name)
		for _, v := range values {
			if m.matches(lower + ": " + v) {
				return true
			}
		}
	}
	return false
}

// matches runs the regex; an error (the match timed out) is no match.
func (m *Matcher) matches(s string) bool {
	ok, err := m.re.MatchString(s)
	return err == nil && ok
}
