package lang

import (
	"os"
	"path/filepath"
	"strings"

	"go.lsp.dev/protocol"

	"github.com/mirrord-go/mirrord/schema"
)

// Source names this server in diagnostics.
const Source = "mirrord"

// templateEnv answers the templates' get_env from the daemon's environment
// (inherited from the IDE or the user's session), but hides MIRRORD_*
// variables: those override settings, and the editor must show what the
// file says, not what the daemon's own environment would make of it.
func templateEnv(name string) (string, bool) {
	if strings.HasPrefix(name, "MIRRORD_") {
		return "", false
	}
	return os.LookupEnv(name)
}

// formatOf names the scanner for a file name; unknown extensions are read
// as JSON, as the loader does for a name without extension.
func formatOf(name string) string {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".toml":
		return "toml"
	case ".yaml", ".yml":
		return "yaml"
	}
	return "json"
}

// Validate returns positioned diagnostics for a config text; name picks the
// format (json/toml/yaml by extension) and is used in messages. It runs the
// loader in IDE mode (a missing target is not an error: the IDE offers a
// picker) without the second-opinion JSON Schema pass, which the loader's
// own checks already cover and which would triple the time.
func Validate(name string, data []byte) []protocol.Diagnostic {
	opts := schema.Options{IDE: true, Env: templateEnv}
	if filepath.IsAbs(name) {
		opts.Dir = filepath.Dir(name) // {{ git_branch }} of the file's checkout
	}
	res := schema.LoadBytes(name, data, opts)
	d := scanDoc(formatOf(name), string(data), -1)
	out := make([]protocol.Diagnostic, 0, len(res.Errors)+len(res.Warnings))
	for _, is := range res.Errors {
		out = append(out, d.diagnostic(is, protocol.DiagnosticSeverityError))
	}
	for _, is := range res.Warnings {
		out = append(out, d.diagnostic(is, protocol.DiagnosticSeverityWarning))
	}
	return out
}

func (d *document) diagnostic(is schema.Issue, sev protocol.DiagnosticSeverity) protocol.Diagnostic {
	msg := is.Msg
	if is.Path != "" {
		msg = is.Path + ": " + msg
	}
	start, end := d.issueRange(is)
	return protocol.Diagnostic{Range: d.txt.rangeOf(start, end), Severity: sev, Source: Source, Message: msg}
}

// valueLevel tells, from the loader's wording, whether an issue is about a
// value (its type, range, format or enum) rather than the key or the
// setting as a whole. Only TOML needs it: there every position is a key's.
func valueLevel(msg string) bool {
	for _, p := range []string{"expected ", "invalid ", "must not be empty", "duplicate entry", "bad "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return strings.Contains(msg, " is not a valid ")
}

// issueRange finds the byte range an issue is about. The loader gives a
// start (the key or the value, by rule) and a key path; the scanned
// entries give the end. TOML positions always name the key, so there the
// message tells whether the value is meant.
func (d *document) issueRange(is schema.Issue) (int, int) {
	off, ok := d.txt.offsetOfPos(is.Line(), is.Col())
	var e *entry
	if is.Path != "" {
		e = d.byIPath(is.Path)
	}
	if e != nil {
		hasKey, hasVal := e.keyStart >= 0, e.valStart >= 0 && e.valEnd > e.valStart
		switch {
		case ok && hasVal && off == e.valStart && (!e.container || !hasKey):
			return e.valStart, e.valEnd
		case hasVal && !e.container && !hasKey:
			return e.valStart, e.valEnd
		case d.format == "toml" && hasVal && !e.container && valueLevel(is.Msg):
			return e.valStart, e.valEnd
		case hasKey:
			return e.keyStart, e.keyEnd
		}
	}
	if !ok {
		// No position: the first line, so the problem is still visible.
		return 0, d.txt.lineEnd(0)
	}
	if d.format == "yaml" && is.Path == "" && is.Col() == 1 {
		// The YAML library reports lines only: mark the line.
		line := d.txt.lineOf(off)
		s, end := off, d.txt.lineEnd(line)
		for s < end && (d.txt.s[s] == ' ' || d.txt.s[s] == '\t') {
			s++
		}
		if s < end {
			return s, end
		}
		return off, end
	}
	return d.tokenAt(off)
}

// tokenAt is the range of the token starting at off.
func (d *document) tokenAt(off int) (int, int) {
	src := d.txt.s
	if off >= len(src) {
		return len(src), len(src)
	}
	switch src[off] {
	case '"', '\'':
		end, _, _ := readQuoted(src, off)
		return off, end
	case '{', '}', '[', ']', ',', ':', '=':
		return off, off + 1
	case '\n', '\r':
		return off, off // at the end of a line: a caret, not the newline
	case ' ', '\t':
		// In the indentation (template errors name a line only): the line.
		line := d.txt.lineOf(off)
		s, end := d.txt.starts[line], d.txt.lineEnd(line)
		for s < end && (src[s] == ' ' || src[s] == '\t') {
			s++
		}
		if s < end {
			return s, end
		}
		return off, off
	}
	end := off
	for end < len(src) && !strings.ContainsRune(" \t\r\n{}[],:=\"#", rune(src[end])) {
		end++
	}
	return off, max(end, off+1)
}
