package tree

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	toml "github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// parseTOML lets go-toml do the decoding (dotted keys, tables, arrays of
// tables) and uses its AST parser only to learn where each key path sits.
func parseTOML(data []byte) (*Node, error) {
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, &Error{Pos: Pos{row, col}, Msg: "invalid TOML: " + de.Error()}
		}
		return nil, &Error{Pos: Pos{1, 1}, Msg: "invalid TOML: " + err.Error()}
	}
	idx := tomlPositions(data)
	return fromValue(m, "", idx, Pos{1, 1}), nil
}

// tomlPositions maps key paths ("a.b[0].c") to the position of their key.
func tomlPositions(data []byte) map[string]Pos {
	out := map[string]Pos{}
	var p unstable.Parser
	p.Reset(data)
	li := newLineIndex(data)
	posOf := func(b []byte) (Pos, bool) {
		if len(b) == 0 {
			return Pos{}, false
		}
		r := p.Range(b)
		if int(r.Offset) < 0 || int(r.Offset)+int(r.Length) > len(data) {
			return Pos{}, false
		}
		return li.pos(int(r.Offset)), true
	}
	arrays := map[string]int{}
	prefix := ""
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path, first := dottedKey(e.Key())
			if e.Kind == unstable.ArrayTable {
				i := arrays[path]
				arrays[path] = i + 1
				path = fmt.Sprintf("%s[%d]", path, i)
			}
			prefix = path
			if pos, ok := posOf(first); ok {
				out[path] = pos
			}
		case unstable.KeyValue:
			tomlKeyValue(e, prefix, out, posOf)
		}
	}
	return out
}

func tomlKeyValue(e *unstable.Node, prefix string, out map[string]Pos, posOf func([]byte) (Pos, bool)) {
	key, first := dottedKey(e.Key())
	path := joinPath(prefix, key)
	if pos, ok := posOf(first); ok {
		out[path] = pos
	}
	tomlValue(e.Value(), path, out, posOf)
}

func tomlValue(v *unstable.Node, path string, out map[string]Pos, posOf func([]byte) (Pos, bool)) {
	switch v.Kind {
	case unstable.Array:
		i := 0
		for it := v.Children(); it.Next(); i++ {
			c := it.Node()
			p := fmt.Sprintf("%s[%d]", path, i)
			if pos, ok := posOf(c.Data); ok {
				out[p] = pos
			}
			tomlValue(c, p, out, posOf)
		}
	case unstable.InlineTable:
		for it := v.Children(); it.Next(); {
			tomlKeyValue(it.Node(), path, out, posOf)
		}
	}
}

func dottedKey(it unstable.Iterator) (string, []byte) {
	var parts []string
	var first []byte
	for it.Next() {
		n := it.Node()
		if first == nil {
			first = n.Data
		}
		parts = append(parts, string(n.Data))
	}
	return strings.Join(parts, "."), first
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// fromValue builds a tree from go-toml's decoded values. Keys are ordered by
// their position in the file, so errors come out in reading order.
func fromValue(v any, path string, idx map[string]Pos, fallback Pos) *Node {
	pos, ok := idx[path]
	if !ok {
		pos = fallback
	}
	switch t := v.(type) {
	case map[string]any:
		n := &Node{Kind: Object, Pos: pos}
		for k, val := range t {
			child := joinPath(path, k)
			kp, ok := idx[child]
			if !ok {
				kp = pos
			}
			n.Fields = append(n.Fields, Field{Key: k, KeyPos: kp, Value: fromValue(val, child, idx, kp)})
		}
		sort.SliceStable(n.Fields, func(i, j int) bool {
			a, b := n.Fields[i].KeyPos, n.Fields[j].KeyPos
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			if a.Col != b.Col {
				return a.Col < b.Col
			}
			return n.Fields[i].Key < n.Fields[j].Key
		})
		return n
	case []any:
		n := &Node{Kind: Array, Pos: pos}
		for i, it := range t {
			n.Items = append(n.Items, fromValue(it, path+"["+strconv.Itoa(i)+"]", idx, pos))
		}
		return n
	case string:
		return &Node{Kind: String, Str: t, Pos: pos}
	case bool:
		return &Node{Kind: Bool, Bool: t, Pos: pos}
	case int64:
		return &Node{Kind: Int, Int: t, Pos: pos}
	case float64:
		return &Node{Kind: Float, Float: t, Pos: pos}
	case time.Time:
		return &Node{Kind: String, Str: t.Format(time.RFC3339Nano), Pos: pos}
	case fmt.Stringer: // LocalDate, LocalTime, LocalDateTime
		return &Node{Kind: String, Str: t.String(), Pos: pos}
	}
	return &Node{Kind: Null, Pos: pos}
}
