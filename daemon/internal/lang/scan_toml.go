package lang

import (
	"strings"
)

// keyPart is one part of a dotted TOML or YAML key.
type keyPart struct {
	name       string
	start, end int
}

// readKey reads a dotted key (bare or quoted parts) from i up to stop;
// it returns the parts and where reading ended.
func readKey(src string, i, stop int) ([]keyPart, int) {
	var parts []keyPart
	for i < stop {
		for i < stop && (src[i] == ' ' || src[i] == '\t') {
			i++
		}
		if i >= stop {
			break
		}
		if src[i] == '"' || src[i] == '\'' {
			end, s, _ := readQuoted(src, i)
			end = min(end, stop)
			parts = append(parts, keyPart{s, i, end})
			i = end
		} else {
			j := i
			for j < stop && isBare(src[j]) {
				j++
			}
			if j == i {
				break
			}
			parts = append(parts, keyPart{src[i:j], i, j})
			i = j
		}
		for i < stop && (src[i] == ' ' || src[i] == '\t') {
			i++
		}
		if i < stop && src[i] == '.' {
			i++
			continue
		}
		break
	}
	return parts, i
}

func isBare(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// scanTOML scans line by line: table headers, key = value lines, and
// inline tables and arrays through the flow scanner.
func scanTOML(d *document, off int) {
	src := d.txt.s
	table, tableI := []string(nil), ""
	arrays := map[string]int{}
	i := 0
	for i < len(src) {
		lineEnd := strings.IndexByte(src[i:], '\n')
		if lineEnd < 0 {
			lineEnd = len(src)
		} else {
			lineEnd += i
		}
		onCursor := off >= i && off <= lineEnd && d.cur == nil
		j := i
		for j < lineEnd && (src[j] == ' ' || src[j] == '\t') {
			j++
		}
		switch {
		case j >= lineEnd || src[j] == '#' || src[j] == '\r':
			if onCursor {
				d.cur = &cursor{path: table, parent: tableI, start: off, end: off, needSep: true}
			}
			i = lineEnd + 1
		case src[j] == '[':
			array := j+1 < lineEnd && src[j+1] == '['
			k := j + 1
			if array {
				k++
			}
			parts, after := readKey(src, k, lineEnd)
			if onCursor && off <= after {
				d.cur = tomlKeyCursor(parts, nil, "", off)
				d.cur.needSep = false // a table name takes no "="
			}
			table, tableI = tomlDeclare(d, nil, "", parts)
			if array {
				n := arrays[tableI]
				arrays[tableI] = n + 1
				if e := d.byIPath(tableI); e != nil {
					e.container = true
				}
				table, tableI = extend(table, "[]"), itemIPath(tableI, n)
				d.add(entry{path: table, ipath: tableI, parent: tableI[:strings.LastIndexByte(tableI, '[')], keyStart: -1, keyEnd: -1, valStart: j, valEnd: lineEnd})
			}
			i = lineEnd + 1
		default:
			i = tomlKeyValue(d, table, tableI, j, lineEnd, off, onCursor)
		}
	}
	if d.cur == nil && off >= len(src) && off >= 0 {
		d.cur = &cursor{path: table, parent: tableI, start: off, end: off, needSep: true}
	}
}

// tomlDeclare adds entries for a dotted key under base and returns the
// path it names. Every part is recorded, so a diagnostic about an implicit
// table still has a key to point at.
func tomlDeclare(d *document, base []string, baseI string, parts []keyPart) ([]string, string) {
	p, ip := base, baseI
	for n, part := range parts {
		parent := ip
		p, ip = extend(p, part.name), joinIPath(ip, part.name)
		e := entry{path: p, ipath: ip, parent: parent, keyStart: part.start, keyEnd: part.end, valStart: -1, valEnd: -1}
		if n < len(parts)-1 {
			e.container = true
		}
		d.add(e)
	}
	return p, ip
}

// tomlKeyCursor is the cursor context inside a dotted key being typed.
func tomlKeyCursor(parts []keyPart, base []string, baseI string, off int) *cursor {
	c := &cursor{path: base, parent: baseI, start: off, end: off, needSep: true}
	for _, part := range parts {
		if off >= part.start && off <= part.end {
			c.start, c.end = part.start, part.end
			break
		}
		if part.end > off {
			break
		}
		c.path, c.parent = extend(c.path, part.name), joinIPath(c.parent, part.name)
	}
	return c
}

// tomlKeyValue scans `key = value` starting at j; it returns where the next
// line starts (a multi-line value may span several lines).
func tomlKeyValue(d *document, table []string, tableI string, j, lineEnd, off int, onCursor bool) int {
	src := d.txt.s
	parts, after := readKey(src, j, lineEnd)
	if after >= lineEnd || src[after] != '=' || len(parts) == 0 {
		// A key being typed, or garbage: offer keys of the table.
		if onCursor {
			c := tomlKeyCursor(parts, table, tableI, off)
			if len(parts) == 0 {
				c.start, c.end = off, off
			}
			d.cur = c
		}
		return lineEnd + 1
	}
	if onCursor && off <= after {
		c := tomlKeyCursor(parts, table, tableI, off)
		c.needSep = false
		d.cur = c
	}
	p, ip := tomlDeclare(d, table, tableI, parts)
	idx := d.add(entry{ipath: ip}) // exists: this looks up its index
	// The loader places a dotted key at its first part; the whole dotted
	// key is the range to show.
	d.entries[idx].keyStart, d.entries[idx].keyEnd = parts[0].start, parts[len(parts)-1].end
	v := after + 1
	for v < lineEnd && (src[v] == ' ' || src[v] == '\t') {
		v++
	}
	if off >= after+1 && off <= lineEnd && onCursor && (v >= lineEnd || (src[v] != '{' && src[v] != '[')) {
		end := valueEnd(src, v, lineEnd)
		if off > end {
			end = off
		}
		d.cur = &cursor{value: true, path: p, start: min(v, off), end: end}
	}
	if v >= lineEnd {
		return lineEnd + 1
	}
	switch {
	case src[v] == '{' || src[v] == '[':
		fo := -1
		if d.cur == nil && off > v {
			fo = off
		}
		f := &flow{d: d, sep: '=', off: fo, hash: true}
		end := f.runOwned(v, p, ip, true, idx)
		d.entries[idx].valStart, d.entries[idx].valEnd, d.entries[idx].container = v, end, true
		if nl := strings.IndexByte(src[end:], '\n'); nl >= 0 {
			return end + nl + 1
		}
		return len(src)
	case strings.HasPrefix(src[v:], `"""`) || strings.HasPrefix(src[v:], `'''`):
		end := strings.Index(src[v+3:], src[v:v+3])
		if end < 0 {
			end = len(src)
		} else {
			end += v + 6
		}
		d.entries[idx].valStart, d.entries[idx].valEnd = v, end
		if nl := strings.IndexByte(src[end:], '\n'); nl >= 0 {
			return end + nl + 1
		}
		return len(src)
	}
	d.entries[idx].valStart, d.entries[idx].valEnd = v, valueEnd(src, v, lineEnd)
	return lineEnd + 1
}

// valueEnd finds the end of a scalar starting at v: a quoted string, or
// everything up to a comment or the end of the line, trimmed.
func valueEnd(src string, v, lineEnd int) int {
	if v >= lineEnd {
		return v
	}
	if src[v] == '"' || src[v] == '\'' {
		end, _, _ := readQuoted(src, v)
		return min(end, lineEnd)
	}
	end := lineEnd
	if h := strings.Index(src[v:lineEnd], " #"); h >= 0 {
		end = v + h
	}
	for end > v && (src[end-1] == ' ' || src[end-1] == '\t' || src[end-1] == '\r') {
		end--
	}
	return end
}
