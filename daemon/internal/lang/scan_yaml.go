package lang

import (
	"strings"
)

// yframe is an open block mapping or sequence of a YAML document.
type yframe struct {
	indent int
	seq    bool
	root   bool
	path   []string
	ipath  string
	count  int // items of a sequence
	last   int // entry of the last key or item read, -1 for none
}

// yamlScanner reads block YAML by indentation; flow collections ({…},
// […]) go to the flow scanner.
type yamlScanner struct {
	d     *document
	off   int
	stack []*yframe
}

func scanYAML(d *document, off int) {
	y := &yamlScanner{d: d, off: off, stack: []*yframe{{indent: -1, root: true, last: -1}}}
	src := d.txt.s
	for i := 0; i < len(src); {
		lineEnd := strings.IndexByte(src[i:], '\n')
		if lineEnd < 0 {
			lineEnd = len(src)
		} else {
			lineEnd += i
		}
		i = y.line(i, lineEnd)
	}
	if d.cur == nil && off >= 0 && off >= len(src) {
		// The cursor is on a last line without a newline and nothing typed.
		y.keyCursor(off-d.txt.starts[d.txt.lineOf(off)], off, off, true)
	}
}

func (y *yamlScanner) top() *yframe { return y.stack[len(y.stack)-1] }

// childOf is the path of the value that a deeper line belongs to: the last
// key (or item) read in f, or the document root.
func (y *yamlScanner) childOf(f *yframe) ([]string, string, int) {
	if f.last >= 0 {
		e := &y.d.entries[f.last]
		return e.path, e.ipath, f.last
	}
	return f.path, f.ipath, -1
}

// line scans one line from start and returns where the next begins.
func (y *yamlScanner) line(start, lineEnd int) int {
	src := y.d.txt.s
	onCursor := y.off >= start && y.off <= lineEnd && y.d.cur == nil
	j := start
	for j < lineEnd && src[j] == ' ' {
		j++
	}
	content := strings.TrimRight(stripComment(src[j:lineEnd]), " \t\r")
	if content == "" || strings.HasPrefix(content, "---") || strings.HasPrefix(content, "...") || strings.HasPrefix(content, "%") {
		if onCursor {
			y.keyCursor(y.off-start, y.off, y.off, true)
		}
		return lineEnd + 1
	}
	ind := j - start
	for len(y.stack) > 1 && y.top().indent > ind {
		y.stack = y.stack[:len(y.stack)-1]
	}
	item := content == "-" || strings.HasPrefix(content, "- ")
	k := j // where the key or value starts
	if item {
		t := y.top()
		if !(t.seq && t.indent == ind) {
			p, ip, e := y.childOf(t)
			if e >= 0 {
				y.d.entries[e].container = true
			}
			t = &yframe{indent: ind, seq: true, path: p, ipath: ip, last: -1}
			y.stack = append(y.stack, t)
		}
		k = j + 1
		for k < lineEnd && src[k] == ' ' {
			k++
		}
		n := t.count
		t.count++
		itemE := y.d.add(entry{path: extend(t.path, "[]"), ipath: itemIPath(t.ipath, n), parent: t.ipath,
			keyStart: -1, keyEnd: -1, valStart: -1, valEnd: -1})
		t.last = itemE
		colon := keyColon(src[k:lineEnd])
		if colon < 0 || (onCursor && y.off <= k+colon) {
			if onCursor && colon < 0 && y.off >= k && !strings.ContainsAny(src[k:y.off], "{[\"'") {
				// A key being typed in a new item.
				y.d.cur = &cursor{path: extend(t.path, "[]"), parent: itemIPath(t.ipath, n), start: k, end: wordEnd(src, y.off, lineEnd), needSep: true}
				return lineEnd + 1
			}
			return y.value(itemE, k, lineEnd, onCursor, extend(t.path, "[]"))
		}
		y.d.entries[itemE].container = true
		y.stack = append(y.stack, &yframe{indent: k - start, path: extend(t.path, "[]"), ipath: itemIPath(t.ipath, n), last: -1})
		ind = k - start
	}
	colon := keyColon(src[k:lineEnd])
	if colon < 0 || (onCursor && y.off <= k+colon && !item) {
		if onCursor {
			y.keyCursor(ind, k, wordEnd(src, max(y.off, k), lineEnd), colon < 0)
		}
		if colon < 0 {
			return lineEnd + 1 // a key being typed, or a continuation line
		}
	}
	t := y.top()
	if t.seq && t.indent == ind && len(y.stack) > 1 {
		y.stack = y.stack[:len(y.stack)-1]
		t = y.top()
	}
	if t.root || t.indent < ind {
		p, ip, e := y.childOf(t)
		if e >= 0 {
			y.d.entries[e].container = true
		}
		t = &yframe{indent: ind, path: p, ipath: ip, last: -1}
		y.stack = append(y.stack, t)
	}
	keyText, keyEnd := src[k:k+colon], k+colon
	name := strings.TrimSpace(keyText)
	if len(name) >= 2 && (name[0] == '"' || name[0] == '\'') {
		_, name, _ = readQuoted(name, 0)
	}
	for keyEnd > k && (src[keyEnd-1] == ' ' || src[keyEnd-1] == '\t') {
		keyEnd--
	}
	p, ip := extend(t.path, name), joinIPath(t.ipath, name)
	e := y.d.add(entry{path: p, ipath: ip, parent: t.ipath, keyStart: k, keyEnd: keyEnd, valStart: -1, valEnd: -1})
	t.last = e
	v := k + colon + 1
	for v < lineEnd && src[v] == ' ' {
		v++
	}
	return y.value(e, v, lineEnd, onCursor, p)
}

// value scans the value of entry e starting at v on the current line.
func (y *yamlScanner) value(e, v, lineEnd int, onCursor bool, path []string) int {
	src := y.d.txt.s
	rest := strings.TrimRight(stripComment(src[v:lineEnd]), " \t\r")
	if onCursor && y.off >= v && (rest == "" || (rest[0] != '{' && rest[0] != '[')) {
		end := max(valueEnd(src, v, v+len(rest)), y.off)
		y.d.cur = &cursor{value: true, path: path, start: min(v, y.off), end: end}
	}
	switch {
	case rest == "":
		return lineEnd + 1
	case rest[0] == '{' || rest[0] == '[':
		fo := -1
		if onCursor && y.off > v {
			fo = y.off
		}
		f := &flow{d: y.d, sep: ':', off: fo, hash: true}
		end := f.runOwned(v, path, y.d.entries[e].ipath, true, e)
		y.d.entries[e].valStart, y.d.entries[e].valEnd, y.d.entries[e].container = v, end, true
		if nl := strings.IndexByte(src[end:], '\n'); nl >= 0 {
			return end + nl + 1
		}
		return len(src)
	case rest[0] == '|' || rest[0] == '>':
		// A block scalar: every following line indented deeper than the
		// key's line, or blank, belongs to it.
		lineStart := y.d.txt.starts[y.d.txt.lineOf(v)]
		keyInd := 0
		for lineStart+keyInd < len(src) && src[lineStart+keyInd] == ' ' {
			keyInd++
		}
		end, next := lineEnd, lineEnd+1
		for next < len(src) {
			ne := strings.IndexByte(src[next:], '\n')
			if ne < 0 {
				ne = len(src)
			} else {
				ne += next
			}
			ind := 0
			for next+ind < ne && src[next+ind] == ' ' {
				ind++
			}
			if strings.TrimSpace(src[next:ne]) != "" && ind <= keyInd {
				break
			}
			if strings.TrimSpace(src[next:ne]) != "" {
				end = ne
			}
			next = ne + 1
		}
		y.d.entries[e].valStart, y.d.entries[e].valEnd = v, end
		return next
	}
	y.d.entries[e].valStart, y.d.entries[e].valEnd = v, valueEnd(src, v, v+len(rest))
	return lineEnd + 1
}

// keyCursor sets a key context for a key typed at column ind, replacing
// start..end.
func (y *yamlScanner) keyCursor(ind, start, end int, needSep bool) {
	i := len(y.stack) - 1
	for i > 0 && y.stack[i].indent > ind {
		i--
	}
	t := y.stack[i]
	if t.seq && t.indent == ind && i > 0 {
		i--
		t = y.stack[i]
	}
	c := &cursor{start: start, end: end, needSep: needSep}
	if !t.root && t.indent == ind {
		c.path, c.parent = t.path, t.ipath
	} else {
		p, ip, _ := y.childOf(t)
		c.path, c.parent = p, ip
	}
	y.d.cur = c
}

// keyColon finds the colon that ends a block mapping key in s, or -1.
func keyColon(s string) int {
	if s == "" || s[0] == '{' || s[0] == '[' {
		return -1
	}
	i := 0
	if s[0] == '"' || s[0] == '\'' {
		end, _, closed := readQuoted(s, 0)
		if !closed {
			return -1
		}
		i = end
	}
	for ; i < len(s); i++ {
		if s[i] == ':' && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t') {
			return i
		}
		if s[i] == '#' && i > 0 && s[i-1] == ' ' {
			return -1
		}
	}
	return -1
}

// stripComment drops a trailing "# comment" outside quotes.
func stripComment(s string) string {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			if i == 0 || s[i-1] == ' ' || s[i-1] == ':' || s[i-1] == '[' || s[i-1] == '{' || s[i-1] == ',' {
				q = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return s[:i]
		}
	}
	return s
}

// wordEnd extends a partial key from off to the end of its word.
func wordEnd(src string, off, lineEnd int) int {
	for off < lineEnd && src[off] != ':' && src[off] != ' ' && src[off] != '\r' {
		off++
	}
	return off
}
