package lang

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/mirrord-go/mirrord/schema"
)

// node is one JSON Schema object, decoded generically: completion and hover
// read the same generated schema the IDEs' JSON validation uses, so the
// docs never drift from the loader.
type node = map[string]any

var rootSchema = sync.OnceValues(func() (node, error) {
	var n node
	if err := json.Unmarshal(schema.JSONSchema, &n); err != nil {
		return nil, fmt.Errorf("decoding the embedded config schema: %w", err)
	}
	return n, nil
})

// alternatives expands $ref, anyOf, oneOf and allOf into the plain schemas
// a value may match. The schema's shapes (a toggle, a mode string or an
// object) are anyOf branches, so a key's properties come from its object
// branch and its values from the others.
func alternatives(root, n node) []node {
	var out []node
	var walk func(n node, depth int)
	walk = func(n node, depth int) {
		if n == nil || depth > 16 {
			return
		}
		if ref, ok := n["$ref"].(string); ok {
			walk(resolveRef(root, ref), depth+1)
		}
		for _, k := range []string{"anyOf", "oneOf", "allOf"} {
			list, _ := n[k].([]any)
			for _, it := range list {
				m, _ := it.(node)
				walk(m, depth+1)
			}
		}
		out = append(out, n)
	}
	walk(n, 0)
	return out
}

func resolveRef(root node, ref string) node {
	name, ok := strings.CutPrefix(ref, "#/$defs/")
	if !ok {
		return nil
	}
	defs, _ := root["$defs"].(node)
	m, _ := defs[name].(node)
	return m
}

// schemaAt walks from the root along a key path ("feature", "network", …;
// array steps are "[]") and returns every schema that may apply there.
func schemaAt(root node, path []string) []node {
	cur := []node{root}
	for _, seg := range path {
		var next []node
		for _, c := range cur {
			for _, alt := range alternatives(root, c) {
				if seg == "[]" {
					if it, ok := alt["items"].(node); ok {
						next = append(next, it)
					}
					if pre, ok := alt["prefixItems"].([]any); ok {
						for _, p := range pre {
							if m, ok := p.(node); ok {
								next = append(next, m)
							}
						}
					}
					continue
				}
				if props, ok := alt["properties"].(node); ok {
					if p, ok := props[seg].(node); ok {
						next = append(next, p)
						continue
					}
				}
				if ap, ok := alt["additionalProperties"].(node); ok {
					next = append(next, ap)
				}
			}
		}
		if len(next) == 0 {
			return nil
		}
		cur = next
	}
	return cur
}

// property is one key offered by completion.
type property struct {
	Name string
	Doc  node // the property's own schema, which carries its description
}

// propertiesAt lists the keys of the objects that may sit at path, sorted.
func propertiesAt(root node, path []string) []property {
	seen := map[string]bool{}
	var out []property
	for _, s := range schemaAt(root, path) {
		for _, alt := range alternatives(root, s) {
			props, _ := alt["properties"].(node)
			for name, p := range props {
				if seen[name] {
					continue
				}
				seen[name] = true
				m, _ := p.(node)
				out = append(out, property{Name: name, Doc: m})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// valuesAt lists the scalar values a key accepts that can be enumerated:
// enum members, consts and booleans. Strings come first, in schema order.
func valuesAt(root node, path []string) []any {
	var out []any
	seen := map[string]bool{}
	add := func(v any) {
		k := fmt.Sprintf("%T:%v", v, v)
		if !seen[k] {
			seen[k] = true
			out = append(out, v)
		}
	}
	var bools bool
	for _, s := range schemaAt(root, path) {
		for _, alt := range alternatives(root, s) {
			if list, ok := alt["enum"].([]any); ok {
				for _, v := range list {
					if v != nil {
						add(v)
					}
				}
			}
			if c, ok := alt["const"]; ok && c != nil {
				add(c)
			}
			if hasType(alt, "boolean") {
				bools = true
			}
		}
	}
	if bools {
		add(true)
		add(false)
	}
	return out
}

func hasType(n node, t string) bool {
	switch v := n["type"].(type) {
	case string:
		return v == t
	case []any:
		for _, it := range v {
			if it == t {
				return true
			}
		}
	}
	return false
}

// docOf renders a key's description and default as markdown.
func docOf(root node, path []string, own node) string {
	descr, def, hasDef := "", any(nil), false
	for _, s := range append([]node{own}, schemaAt(root, path)...) {
		if s == nil {
			continue
		}
		if d, ok := s["description"].(string); ok && descr == "" {
			descr = d
		}
		if d, ok := s["default"]; ok && !hasDef {
			def, hasDef = d, true
		}
	}
	var b strings.Builder
	if len(path) > 0 {
		fmt.Fprintf(&b, "**%s**\n\n", displayPath(path))
	}
	b.WriteString(descr)
	if hasDef {
		js, _ := json.Marshal(def)
		fmt.Fprintf(&b, "\n\nDefault: `%s`", js)
	}
	return strings.TrimSpace(b.String())
}
