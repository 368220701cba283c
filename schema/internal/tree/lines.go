package tree

import (
	"sort"
	"unicode/utf8"
)

// lineIndex maps byte offsets to positions in O(log n), so that parsing a
// large file does not rescan it for every token.
type lineIndex struct {
	data   []byte
	starts []int
}

func newLineIndex(data []byte) *lineIndex {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' {
			starts = append(starts, i+1)
		}
	}
	return &lineIndex{data: data, starts: starts}
}

func (li *lineIndex) pos(off int) Pos {
	if off > len(li.data) {
		off = len(li.data)
	}
	line := sort.Search(len(li.starts), func(i int) bool { return li.starts[i] > off }) - 1
	col := utf8.RuneCount(li.data[li.starts[line]:off]) + 1
	return Pos{line + 1, col}
}
