package tree

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// jsonParser walks encoding/json's token stream and records where each token
// starts, which the standard decoder does not expose directly.
type jsonParser struct {
	dec  *json.Decoder
	data []byte
	li   *lineIndex
}

func parseJSON(data []byte) (*Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &jsonParser{dec: dec, data: data, li: newLineIndex(data)}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	start := p.skip(int(dec.InputOffset()))
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Error{Pos: p.li.pos(start), Msg: "unexpected text after the end of the JSON document"}
	}
	return n, nil
}

// skip moves past whitespace and the separators the decoder consumes
// silently, to where the next token really starts.
func (p *jsonParser) skip(off int) int {
	for off < len(p.data) {
		switch p.data[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
		default:
			return off
		}
	}
	return off
}

func (p *jsonParser) next() (json.Token, Pos, error) {
	start := p.skip(int(p.dec.InputOffset()))
	tok, err := p.dec.Token()
	if err != nil {
		return nil, Pos{}, p.syntax(err, start)
	}
	return tok, p.li.pos(start), nil
}

func (p *jsonParser) syntax(err error, start int) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// The token reader's offsets are sometimes relative to the value
		// being read and sometimes absolute; a scan of the whole document
		// gives the absolute offset just past the offending byte.
		var full *json.SyntaxError
		if errors.As(json.Unmarshal(p.data, new(any)), &full) {
			se = full
		}
		off := int(se.Offset)
		if off > 0 {
			off--
		}
		return &Error{Pos: p.li.pos(off), Msg: "invalid JSON: " + se.Error()}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &Error{Pos: p.li.pos(len(p.data)), Msg: "invalid JSON: unexpected end of file (a missing } or ]?)"}
	}
	return &Error{Pos: p.li.pos(start), Msg: "invalid JSON: " + err.Error()}
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 200

func (p *jsonParser) value(depth int) (*Node, error) {
	tok, pos, err := p.next()
	if err != nil {
		return nil, err
	}
	if depth > maxDepth {
		return nil, &Error{Pos: pos, Msg: "document nested too deeply"}
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return p.object(pos, depth)
		case '[':
			return p.array(pos, depth)
		}
		return nil, &Error{Pos: pos, Msg: fmt.Sprintf("invalid JSON: unexpected %q", rune(t))}
	case string:
		return &Node{Kind: String, Str: t, Pos: pos}, nil
	case bool:
		return &Node{Kind: Bool, Bool: t, Pos: pos}, nil
	case nil:
		return &Node{Kind: Null, Pos: pos}, nil
	case json.Number:
		return numberNode(string(t), pos), nil
	}
	return nil, &Error{Pos: pos, Msg: fmt.Sprintf("invalid JSON token %v", tok)}
}

func numberNode(s string, pos Pos) *Node {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return &Node{Kind: Int, Int: i, Pos: pos}
	}
	f, _ := strconv.ParseFloat(s, 64)
	return &Node{Kind: Float, Float: f, Pos: pos}
}

func (p *jsonParser) object(pos Pos, depth int) (*Node, error) {
	n := &Node{Kind: Object, Pos: pos}
	seen := map[string]Pos{}
	for p.dec.More() {
		tok, kpos, err := p.next()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &Error{Pos: kpos, Msg: "invalid JSON: expected a quoted key"}
		}
		if first, dup := seen[key]; dup {
			return nil, &Error{Pos: kpos, Msg: fmt.Sprintf("duplicate key %q (first set at %s)", key, first)}
		}
		seen[key] = kpos
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Fields = append(n.Fields, Field{Key: key, KeyPos: kpos, Value: v})
	}
	if _, _, err := p.next(); err != nil { // the closing brace
		return nil, err
	}
	return n, nil
}

func (p *jsonParser) array(pos Pos, depth int) (*Node, error) {
	n := &Node{Kind: Array, Pos: pos}
	for p.dec.More() {
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Items = append(n.Items, v)
	}
	if _, _, err := p.next(); err != nil { // the closing bracket
		return nil, err
	}
	return n, nil
}
