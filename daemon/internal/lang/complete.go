package lang

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"go.lsp.dev/protocol"
)

// complete lists what may be typed at offset off of src: the keys of the
// object around the cursor that are not set yet, or the enumerable values
// of the key whose value is being typed, each with its documentation.
func complete(format, src string, off int) *protocol.CompletionList {
	list := &protocol.CompletionList{Items: []protocol.CompletionItem{}}
	root, err := rootSchema()
	if err != nil {
		return list
	}
	d := scanDoc(format, src, max(0, min(off, len(src))))
	c := d.cur
	if c == nil {
		return list
	}
	rng := d.txt.rangeOf(c.start, c.end)
	if c.value {
		doc := docOf(root, c.path, nil)
		for i, v := range valuesAt(root, c.path) {
			text := formatValue(format, v)
			kind := protocol.CompletionItemKindEnumMember
			if _, ok := v.(bool); ok {
				kind = protocol.CompletionItemKindValue
			}
			list.Items = append(list.Items, protocol.CompletionItem{
				Label:         fmt.Sprint(v),
				Kind:          kind,
				Detail:        displayPath(c.path),
				Documentation: markdown(doc),
				FilterText:    text,
				SortText:      fmt.Sprintf("%04d", i),
				TextEdit:      &protocol.TextEdit{Range: rng, NewText: text},
			})
		}
		return list
	}
	have := d.present(c.parent, c.start)
	for i, p := range propertiesAt(root, c.path) {
		if have[p.Name] {
			continue
		}
		key := formatKey(format, p.Name)
		text := key
		if c.needSep {
			text += map[string]string{"json": ": ", "toml": " = ", "yaml": ": "}[format]
		}
		path := extend(c.path, p.Name)
		list.Items = append(list.Items, protocol.CompletionItem{
			Label:         p.Name,
			Kind:          protocol.CompletionItemKindProperty,
			Detail:        displayPath(path),
			Documentation: markdown(docOf(root, path, p.Doc)),
			FilterText:    key,
			SortText:      fmt.Sprintf("%04d", i),
			TextEdit:      &protocol.TextEdit{Range: rng, NewText: text},
		})
	}
	return list
}

func markdown(s string) protocol.MarkupContent {
	return protocol.MarkupContent{Kind: protocol.Markdown, Value: s}
}

// displayPath renders a schema path for people: array steps become "[]".
func displayPath(path []string) string {
	return strings.ReplaceAll(strings.Join(path, "."), ".[]", "[]")
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func formatKey(format, name string) string {
	switch {
	case format == "json":
		return quote(name)
	case bareKey.MatchString(name):
		return name
	}
	return quote(name)
}

// formatValue writes a value as it is typed in the format: YAML strings
// need no quotes unless they would read as something else.
func formatValue(format string, v any) string {
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		return string(b)
	}
	if format == "yaml" && bareKey.MatchString(s) && !yamlSpecial[strings.ToLower(s)] {
		return s
	}
	return quote(s)
}

var yamlSpecial = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "null": true, "y": true, "n": true, "~": true}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// hover describes the key (or the value of the key) under off.
func hover(format, src string, off int) *protocol.Hover {
	root, err := rootSchema()
	if err != nil {
		return nil
	}
	d := scanDoc(format, src, -1)
	var best *entry
	var bs, be int
	consider := func(e *entry, s, end int) {
		if s >= 0 && s <= off && off <= end && (best == nil || end-s < be-bs) {
			best, bs, be = e, s, end
		}
	}
	for i := range d.entries {
		e := &d.entries[i]
		if e.keyStart >= 0 {
			consider(e, e.keyStart, e.keyEnd)
		}
		if !e.container && e.valStart >= 0 {
			consider(e, e.valStart, e.valEnd)
		}
	}
	if best == nil {
		return nil
	}
	if len(schemaAt(root, best.path)) == 0 {
		return nil // an unknown key: its diagnostic says so
	}
	doc := docOf(root, best.path, nil)
	r := d.txt.rangeOf(bs, be)
	return &protocol.Hover{Contents: markdown(doc), Range: &r}
}
