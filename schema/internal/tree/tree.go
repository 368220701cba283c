// Package tree turns JSON, TOML and YAML config text into one positioned
// document tree. The config loader decodes from this tree instead of from a
// format library's own types, so every error it reports (wrong type, unknown
// key, conflicting keys) can name a line and column, whatever the format.
package tree

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is the JSON-like type of a node.
type Kind int

// The node kinds. Int and Float are kept apart so that "ttl": 1.5 can be
// rejected with a message that says an integer was expected.
const (
	Null Kind = iota
	Bool
	Int
	Float
	String
	Array
	Object
)

func (k Kind) String() string {
	return [...]string{"null", "boolean", "integer", "number", "string", "array", "object"}[k]
}

// Pos is a 1-based line and column in the source text.
type Pos struct {
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

// Node is one value of the document.
type Node struct {
	Kind   Kind
	Bool   bool
	Int    int64
	Float  float64
	Str    string
	Items  []*Node
	Fields []Field
	Pos    Pos
}

// Field is one key of an object, in source order.
type Field struct {
	Key    string
	KeyPos Pos
	Value  *Node
}

// Get returns the value of key in an object node, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Object {
		return nil
	}
	for i := range n.Fields {
		if n.Fields[i].Key == key {
			return n.Fields[i].Value
		}
	}
	return nil
}

// Describe renders a short form of the value for error messages.
func (n *Node) Describe() string {
	switch n.Kind {
	case Null:
		return "null"
	case Bool:
		return strconv.FormatBool(n.Bool)
	case Int:
		return strconv.FormatInt(n.Int, 10)
	case Float:
		return strconv.FormatFloat(n.Float, 'g', -1, 64)
	case String:
		s := n.Str
		if len(s) > 40 {
			s = s[:37] + "..."
		}
		return strconv.Quote(s)
	case Array:
		return "an array"
	default:
		return "an object"
	}
}

// Interface converts the tree to the plain Go values encoding/json produces
// (with json.Number-compatible numbers), for JSON Schema validation.
func (n *Node) Interface() any {
	switch n.Kind {
	case Null:
		return nil
	case Bool:
		return n.Bool
	case Int:
		return jsonNumber(strconv.FormatInt(n.Int, 10))
	case Float:
		return jsonNumber(strconv.FormatFloat(n.Float, 'g', -1, 64))
	case String:
		return n.Str
	case Array:
		out := make([]any, len(n.Items))
		for i, it := range n.Items {
			out[i] = it.Interface()
		}
		return out
	default:
		out := make(map[string]any, len(n.Fields))
		for _, f := range n.Fields {
			out[f.Key] = f.Value.Interface()
		}
		return out
	}
}

// Lookup finds the node at a key path such as "feature.network.incoming.mode"
// or "agent.tolerations[0].key". It returns the deepest node that exists on
// the way and whether the whole path was found, so a caller can still point at
// the closest enclosing key.
func (n *Node) Lookup(path string) (pos Pos, found bool) {
	if n == nil {
		return Pos{}, false
	}
	cur := n
	pos = n.Pos
	for _, seg := range SplitPath(path) {
		var next *Node
		var at Pos
		if idx, ok := seg.Index(); ok {
			if cur.Kind == Array && idx < len(cur.Items) {
				next, at = cur.Items[idx], cur.Items[idx].Pos
			}
		} else if cur.Kind == Object {
			for _, f := range cur.Fields {
				if f.Key == seg.Key {
					next, at = f.Value, f.KeyPos
					break
				}
			}
		}
		if next == nil {
			return pos, false
		}
		cur, pos = next, at
	}
	return pos, true
}

// Segment is one step of a key path: an object key or an array index.
type Segment struct {
	Key   string
	index int
}

// Index reports whether the segment is an array index.
func (s Segment) Index() (int, bool) { return s.index, s.index >= 0 }

// SplitPath splits "a.b[2].c" into its segments.
func SplitPath(path string) []Segment {
	var out []Segment
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			continue
		}
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			out = append(out, Segment{Key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			if i, err := strconv.Atoi(num); err == nil {
				out = append(out, Segment{index: i})
			}
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return out
}

// Error is a syntax error with its position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// Format is a config file syntax.
type Format string

// The supported formats.
const (
	JSON Format = "json"
	TOML Format = "toml"
	YAML Format = "yaml"
)

// Parse parses data in the given format. An empty or all-whitespace document
// is an empty object, as upstream treats an empty file.
func Parse(format Format, data []byte) (*Node, error) {
	if strings.TrimSpace(string(data)) == "" {
		return &Node{Kind: Object, Pos: Pos{1, 1}}, nil
	}
	switch format {
	case JSON:
		return parseJSON(data)
	case TOML:
		return parseTOML(data)
	case YAML:
		return parseYAML(data)
	default:
		return nil, fmt.Errorf("unknown format %q", format)
	}
}

// posAt converts a byte offset to a line and column (columns count runes).
func posAt(data []byte, off int) Pos {
	if off > len(data) {
		off = len(data)
	}
	line, col := 1, 1
	for _, r := range string(data[:off]) {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return Pos{line, col}
}
