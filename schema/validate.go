package schema

import (
	"bytes"
	_ "embed"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/mirrord-go/mirrord/schema/internal/tree"
	"github.com/santhosh-tekuri/jsonschema/v5"
)

// JSONSchema is the generated schema of the config file, as committed in
// schema/mirrord-schema.json (`make schema` regenerates it).
//
//go:embed mirrord-schema.json
var JSONSchema []byte

// SchemaURL is the $id of the schema.
const SchemaURL = "https://mirrord-go.dev/mirrord-schema.json"

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	c.AssertFormat = true
	for name, check := range formats {
		check := check
		c.Formats[name] = func(v any) bool {
			s, ok := v.(string)
			return !ok || check(s) == nil
		}
	}
	c.Formats["unique-pairs"] = uniquePairs
	if err := c.AddResource(SchemaURL, bytes.NewReader(JSONSchema)); err != nil {
		return nil, fmt.Errorf("loading the embedded schema: %w", err)
	}
	return c.Compile(SchemaURL)
})

// uniquePairs checks that no first and no second element repeats in a list
// of [a, b] pairs (listen_ports).
func uniquePairs(v any) bool {
	list, ok := v.([]any)
	if !ok {
		return true
	}
	seen := [2]map[string]bool{{}, {}}
	for _, it := range list {
		pair, ok := it.([]any)
		if !ok || len(pair) != 2 {
			continue
		}
		for i := range 2 {
			k := fmt.Sprint(pair[i])
			if seen[i][k] {
				return false
			}
			seen[i][k] = true
		}
	}
	return true
}

// ValidateDocument checks a parsed document against the generated schema
// only. Tests use it to prove that the schema and the loader agree.
func ValidateDocument(root *tree.Node) error {
	s, err := compiled()
	if err != nil {
		return err
	}
	return s.Validate(root.Interface())
}

// validateAgainstSchema reports schema violations as positioned issues.
func validateAgainstSchema(root *tree.Node, file string) []Issue {
	s, err := compiled()
	if err != nil {
		return []Issue{{File: file, Msg: "internal: " + err.Error()}}
	}
	verr, ok := s.Validate(root.Interface()).(*jsonschema.ValidationError)
	if !ok || verr == nil {
		return nil
	}
	var out []Issue
	seen := map[string]bool{}
	for _, leaf := range leaves(verr) {
		path := pointerToPath(leaf.InstanceLocation)
		msg := leaf.Message
		if seen[path+msg] {
			continue
		}
		seen[path+msg] = true
		is := Issue{File: file, Path: path, Msg: "schema: " + msg}
		if pos, found := root.Lookup(path); found || path == "" {
			is.Pos = pos
		}
		out = append(out, is)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pos.Line < out[j].Pos.Line })
	return out
}

func leaves(e *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return []*jsonschema.ValidationError{e}
	}
	var out []*jsonschema.ValidationError
	for _, c := range e.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

// pointerToPath turns "/feature/env/include" or "/a/0/b" into "feature.env.include" or "a[0].b".
func pointerToPath(ptr string) string {
	var b strings.Builder
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		if seg == "" {
			continue
		}
		// The validator percent-encodes the pointer (it is a URI fragment).
		if u, err := url.PathUnescape(seg); err == nil {
			seg = u
		}
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}
