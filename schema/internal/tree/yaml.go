package tree

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// yamlLine pulls the line number out of the YAML library's error text.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// maxYAMLNodes bounds alias expansion ("billion laughs").
const maxYAMLNodes = 100_000

func parseYAML(data []byte) (*Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{Pos: Pos{extra.Line, extra.Column}, Msg: "a config file holds one YAML document, found a second one"}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	c := &yamlConv{}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return &Node{Kind: Object, Pos: Pos{1, 1}}, nil
		}
		root = root.Content[0]
	}
	return c.conv(root, 0)
}

func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return &Error{Pos: Pos{line, 1}, Msg: "invalid YAML: " + msg}
}

type yamlConv struct{ count int }

func (c *yamlConv) conv(y *yaml.Node, depth int) (*Node, error) {
	pos := Pos{y.Line, y.Column}
	c.count++
	if c.count > maxYAMLNodes || depth > maxDepth {
		return nil, &Error{Pos: pos, Msg: "document too large or nested too deeply (alias expansion?)"}
	}
	switch y.Kind {
	case yaml.AliasNode:
		n, err := c.conv(y.Alias, depth+1)
		if err != nil {
			return nil, err
		}
		cp := *n
		cp.Pos = pos
		return &cp, nil
	case yaml.SequenceNode:
		n := &Node{Kind: Array, Pos: pos}
		for _, it := range y.Content {
			v, err := c.conv(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.Items = append(n.Items, v)
		}
		return n, nil
	case yaml.MappingNode:
		return c.mapping(y, pos, depth)
	case yaml.ScalarNode:
		return scalar(y, pos)
	}
	return nil, &Error{Pos: pos, Msg: "unsupported YAML node"}
}

func (c *yamlConv) mapping(y *yaml.Node, pos Pos, depth int) (*Node, error) {
	n := &Node{Kind: Object, Pos: pos}
	seen := map[string]Pos{}
	add := func(f Field) error {
		if first, dup := seen[f.Key]; dup {
			return &Error{Pos: f.KeyPos, Msg: fmt.Sprintf("duplicate key %q (first set at %s)", f.Key, first)}
		}
		seen[f.Key] = f.KeyPos
		n.Fields = append(n.Fields, f)
		return nil
	}
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		kpos := Pos{k.Line, k.Column}
		if k.Kind != yaml.ScalarNode {
			return nil, &Error{Pos: kpos, Msg: "keys must be plain strings"}
		}
		val, err := c.conv(v, depth+1)
		if err != nil {
			return nil, err
		}
		if k.Tag == "!!merge" { // "<<: *anchor" merges the anchor's keys
			if val.Kind != Object {
				return nil, &Error{Pos: kpos, Msg: "a YAML merge key needs a mapping"}
			}
			for _, f := range val.Fields {
				if _, dup := seen[f.Key]; !dup {
					seen[f.Key] = f.KeyPos
					n.Fields = append(n.Fields, f)
				}
			}
			continue
		}
		if err := add(Field{Key: k.Value, KeyPos: kpos, Value: val}); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func scalar(y *yaml.Node, pos Pos) (*Node, error) {
	switch y.ShortTag() {
	case "!!null":
		return &Node{Kind: Null, Pos: pos}, nil
	case "!!bool":
		var b bool
		if err := y.Decode(&b); err != nil {
			return nil, &Error{Pos: pos, Msg: err.Error()}
		}
		return &Node{Kind: Bool, Bool: b, Pos: pos}, nil
	case "!!int":
		var i int64
		if err := y.Decode(&i); err != nil {
			return nil, &Error{Pos: pos, Msg: fmt.Sprintf("integer %s out of range", y.Value)}
		}
		return &Node{Kind: Int, Int: i, Pos: pos}, nil
	case "!!float":
		var f float64
		if err := y.Decode(&f); err != nil {
			return nil, &Error{Pos: pos, Msg: err.Error()}
		}
		return &Node{Kind: Float, Float: f, Pos: pos}, nil
	default: // !!str, !!timestamp, !!binary: keep the text
		return &Node{Kind: String, Str: y.Value, Pos: pos}, nil
	}
}
