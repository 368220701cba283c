package lang

import (
	"strconv"
	"strings"
)

// The scanners below read config text the way a person types it: half a
// key, an unclosed brace, a missing comma. They never fail; they record
// where each key and value sits (for diagnostics ranges and hover) and what
// the text before an offset says about it (for completion). The loader's
// parsers stop at the first syntax error, which is where the cursor usually
// is while typing, so completion cannot rely on them.

// entry is one key (or array item) of the document.
type entry struct {
	path      []string // schema path: keys, "[]" for array items
	ipath     string   // the loader's form: "a.b[0].c"
	parent    string   // ipath of the enclosing object or array
	keyStart  int      // byte offsets; -1 for array items
	keyEnd    int
	valStart  int // -1 when there is no value on the key's line (YAML block)
	valEnd    int
	container bool
}

// cursor is what completion needs to know about an offset.
type cursor struct {
	value      bool     // a value is typed (path names its key), else a key
	path       []string // schema path: of the key for values, of the object for keys
	parent     string   // ipath of the object, for keys already present
	start, end int      // the text the completion replaces
	needSep    bool     // a key has no ':' or '=' after it yet
}

// document is a scanned config text.
type document struct {
	format  string // "json", "toml" or "yaml"
	txt     *text
	entries []entry
	byPath  map[string]int // ipath -> index in entries
	cur     *cursor        // set when scanned with a cursor offset
}

// scanDoc scans src; off >= 0 asks for the cursor context at that offset.
func scanDoc(format, src string, off int) *document {
	d := &document{format: format, txt: newText(src), byPath: map[string]int{}}
	switch format {
	case "toml":
		scanTOML(d, off)
	case "yaml":
		scanYAML(d, off)
	default:
		f := &flow{d: d, sep: ':', off: off}
		f.run(0, nil, "", false)
	}
	return d
}

// byIPath finds the entry of a loader path.
func (d *document) byIPath(p string) *entry {
	if i, ok := d.byPath[p]; ok {
		return &d.entries[i]
	}
	return nil
}

// present lists the keys already set in the object at parent, except the
// one whose key starts at skip.
func (d *document) present(parent string, skip int) map[string]bool {
	out := map[string]bool{}
	for _, e := range d.entries {
		if e.parent == parent && e.keyStart >= 0 && e.keyStart != skip && len(e.path) > 0 {
			out[e.path[len(e.path)-1]] = true
		}
	}
	return out
}

// add records an entry, unless the same key path is there already (a TOML
// table and its dotted keys may name the same path twice).
func (d *document) add(e entry) int {
	if i, ok := d.byPath[e.ipath]; ok {
		return i
	}
	d.entries = append(d.entries, e)
	d.byPath[e.ipath] = len(d.entries) - 1
	return len(d.entries) - 1
}

func joinIPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func itemIPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

func extend(path []string, seg ...string) []string {
	out := make([]string, 0, len(path)+len(seg))
	return append(append(out, path...), seg...)
}

// Token kinds of the flow scanner.
const (
	tokPunct = iota
	tokString
	tokWord
)

type token struct {
	kind       int
	start, end int
	text       string // unquoted string, word, or the punctuation byte
	closed     bool   // a string's closing quote is there
}

// lexAt reads the token at i (after blanks and comments), or ok=false at
// the end of the text.
func lexAt(src string, i int, hashComments bool) (token, bool) {
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			i++
			continue
		case c == '#' && hashComments, c == '/' && i+1 < len(src) && src[i+1] == '/':
			for i < len(src) && src[i] != '\n' {
				i++
			}
			continue
		}
		break
	}
	if i >= len(src) {
		return token{}, false
	}
	switch c := src[i]; c {
	case '{', '}', '[', ']', ',', ':', '=':
		return token{kind: tokPunct, start: i, end: i + 1, text: string(c)}, true
	case '"', '\'':
		end, s, closed := readQuoted(src, i)
		return token{kind: tokString, start: i, end: end, text: s, closed: closed}, true
	}
	j := i
	for j < len(src) && !strings.ContainsRune(" \t\r\n{}[],:=\"#", rune(src[j])) {
		j++
	}
	if j == i {
		j++
	}
	return token{kind: tokWord, start: i, end: j, text: src[i:j]}, true
}

// readQuoted reads a quoted string starting at i. An unclosed string ends
// at the end of its line.
func readQuoted(src string, i int) (end int, s string, closed bool) {
	q := src[i]
	var b strings.Builder
	j := i + 1
	for j < len(src) {
		c := src[j]
		switch {
		case c == q:
			return j + 1, b.String(), true
		case c == '\n':
			return j, b.String(), false
		case c == '\\' && q == '"' && j+1 < len(src):
			j++
			switch src[j] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(src[j])
			}
		default:
			b.WriteByte(c)
		}
		j++
	}
	return j, b.String(), false
}

// flow scans JSON, and the {…} and […] values of TOML and YAML.
type flow struct {
	d    *document
	sep  byte // ':' or '='
	off  int  // cursor offset, -1 for none
	hash bool // '#' starts a comment
}

const (
	stKey = iota
	stSep
	stValue
	stNext
)

type frame struct {
	array   bool
	root    bool // the value being scanned, not a container of it
	path    []string
	ipath   string
	entry   int // the entry whose value this is, -1 for none
	state   int
	index   int
	pending int // entry of the last key read, -1 for none
}

// run scans from i. With inline, it stops after the first complete value
// and returns the offset after it; the value belongs to the entry at
// index owner (or is the document's root when owner is -1).
func (f *flow) run(i int, path []string, ipath string, inline bool) int {
	return f.runOwned(i, path, ipath, inline, -1)
}

func (f *flow) runOwned(i int, path []string, ipath string, inline bool, owner int) int {
	src := f.d.txt.s
	root := &frame{root: true, path: path, ipath: ipath, entry: owner, state: stValue, pending: owner}
	stack := []*frame{root}
	for {
		tok, ok := lexAt(src, i, f.hash)
		top := stack[len(stack)-1]
		if f.off >= 0 {
			if !ok {
				f.capture(top, token{start: f.off, end: f.off}, false)
			} else if tok.kind != tokPunct && tok.start < f.off && f.off <= tok.end {
				f.capture(top, tok, true)
			} else if tok.start >= f.off {
				f.capture(top, token{start: f.off, end: f.off}, false)
			}
		}
		if !ok {
			return len(src)
		}
		i = tok.end
		switch {
		case tok.kind == tokPunct && (tok.text == "{" || tok.text == "["):
			var e int
			var p []string
			var ip string
			if top.array {
				p, ip = extend(top.path, "[]"), itemIPath(top.ipath, top.index)
				e = f.d.add(entry{path: p, ipath: ip, parent: top.ipath, keyStart: -1, keyEnd: -1})
			} else if top.pending >= 0 {
				e = top.pending
				p, ip = f.d.entries[e].path, f.d.entries[e].ipath
			} else {
				e, p, ip = -1, top.path, top.ipath
			}
			if e >= 0 {
				f.d.entries[e].valStart, f.d.entries[e].container = tok.start, true
			}
			top.state = stNext
			nf := &frame{array: tok.text == "[", path: p, ipath: ip, entry: e, pending: -1}
			if nf.array {
				nf.state = stValue
			}
			stack = append(stack, nf)
		case tok.kind == tokPunct && (tok.text == "}" || tok.text == "]"):
			if len(stack) == 1 {
				continue // stray closer
			}
			if top.entry >= 0 {
				f.d.entries[top.entry].valEnd = tok.end
			}
			stack = stack[:len(stack)-1]
			if inline && len(stack) == 1 {
				return tok.end
			}
		case tok.kind == tokPunct && tok.text == ",":
			if top.array {
				top.index++
				top.state = stValue
			} else if len(stack) > 1 {
				top.state, top.pending = stKey, -1
			}
		case tok.kind == tokPunct && tok.text[0] == f.sep:
			if !top.array && top.state == stSep {
				top.state = stValue
			}
		case tok.kind == tokPunct:
			// the other separator: ignore
		default: // a string or a word
			if !top.array && len(stack) > 1 && (top.state == stKey || top.state == stNext) {
				keys := []string{tok.text}
				if f.sep == '=' && tok.kind == tokWord {
					keys = strings.Split(tok.text, ".")
				}
				p, ip := top.path, top.ipath
				for _, k := range keys {
					parent := ip
					p, ip = extend(p, k), joinIPath(ip, k)
					top.pending = f.d.add(entry{path: p, ipath: ip, parent: parent, keyStart: tok.start, keyEnd: tok.end, valStart: -1, valEnd: -1})
				}
				top.state = stSep
				continue
			}
			if top.array {
				f.d.add(entry{path: extend(top.path, "[]"), ipath: itemIPath(top.ipath, top.index), parent: top.ipath,
					keyStart: -1, keyEnd: -1, valStart: tok.start, valEnd: tok.end})
			} else if top.pending >= 0 {
				f.d.entries[top.pending].valStart, f.d.entries[top.pending].valEnd = tok.start, tok.end
			}
			top.state = stNext
			if inline && len(stack) == 1 {
				return tok.end
			}
		}
	}
}

// capture records the cursor context; in tells whether the cursor is
// inside tok (a string or word being typed) rather than between tokens.
func (f *flow) capture(top *frame, tok token, in bool) {
	f.off = -1 // once: later tokens are past the cursor
	c := &cursor{start: tok.start, end: tok.end}
	switch {
	case top.root:
		return
	case top.array && top.state == stValue:
		c.value, c.path = true, extend(top.path, "[]")
	case top.array:
		return
	case top.state == stValue && top.pending >= 0:
		c.value, c.path = true, f.d.entries[top.pending].path
	case top.state == stKey || top.state == stNext:
		c.path, c.parent = top.path, top.ipath
		c.needSep = !f.sepFollows(tok.end)
	case top.state == stSep && in:
		// Still typing the key just read.
		e := f.d.entries[top.pending]
		c.path, c.parent = e.path[:len(e.path)-1], e.parent
		c.needSep = !f.sepFollows(tok.end)
	default:
		return
	}
	f.d.cur = c
}

func (f *flow) sepFollows(i int) bool {
	src := f.d.txt.s
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	return i < len(src) && src[i] == f.sep
}
