package lang

import (
	"sort"
	"unicode/utf8"

	"go.lsp.dev/protocol"
)

// text is a document with a line index. The scanners work on byte offsets;
// LSP speaks 0-based lines and UTF-16 columns, and the loader 1-based lines
// and rune columns, so every conversion goes through here.
type text struct {
	s      string
	starts []int // byte offset of each line
}

func newText(s string) *text {
	starts := []int{0}
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &text{s: s, starts: starts}
}

// lineOf returns the 0-based line holding byte offset off.
func (t *text) lineOf(off int) int {
	return sort.Search(len(t.starts), func(i int) bool { return t.starts[i] > off }) - 1
}

// lineEnd is the offset of the line's newline (or the end of the text).
func (t *text) lineEnd(line int) int {
	if line+1 < len(t.starts) {
		end := t.starts[line+1] - 1
		if end > t.starts[line] && t.s[end-1] == '\r' {
			end--
		}
		return end
	}
	return len(t.s)
}

// position converts a byte offset to an LSP position.
func (t *text) position(off int) protocol.Position {
	off = max(0, min(off, len(t.s)))
	line := t.lineOf(off)
	col := 0
	for _, r := range t.s[t.starts[line]:off] {
		col += utf16Len(r)
	}
	return protocol.Position{Line: uint32(line), Character: uint32(col)}
}

// utf16Len is how many UTF-16 code units r takes: two above the BMP.
func utf16Len(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// offset converts an LSP position to a byte offset, clamped to the line.
func (t *text) offset(p protocol.Position) int {
	line := int(p.Line)
	if line >= len(t.starts) {
		return len(t.s)
	}
	off, end := t.starts[line], t.lineEnd(line)
	for col := 0; off < end && col < int(p.Character); {
		r, n := utf8.DecodeRuneInString(t.s[off:])
		col += utf16Len(r)
		off += n
	}
	return off
}

// offsetOfPos converts the loader's 1-based line and rune column to a byte
// offset; ok is false when the position is unknown or outside the text.
func (t *text) offsetOfPos(line, col int) (int, bool) {
	if line < 1 || line > len(t.starts) {
		return 0, false
	}
	off, end := t.starts[line-1], t.lineEnd(line-1)
	for c := 1; c < col && off < end; c++ {
		_, n := utf8.DecodeRuneInString(t.s[off:])
		off += n
	}
	return off, true
}

func (t *text) rangeOf(start, end int) protocol.Range {
	return protocol.Range{Start: t.position(start), End: t.position(end)}
}
