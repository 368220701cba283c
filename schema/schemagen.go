package schema

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"sort"
	"strings"
)

// Docs maps "Type" and "Type.Field" to their doc comments; the generator
// command reads them from this package's source.
type Docs map[string]string

type obj = map[string]any

// GenerateJSONSchema renders the JSON Schema (draft 2020-12) of Config from
// the same types and tag rules the loader uses.
func GenerateJSONSchema(docs Docs) ([]byte, error) {
	g := &gen{docs: docs, defs: obj{}, defaults: map[reflect.Type]reflect.Value{}}
	g.collectDefaults(reflect.ValueOf(Default()).Elem())
	root := g.structSchema(reflect.TypeOf(Config{}), "")
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaURL
	root["title"] = "mirrord configuration"
	root["allOf"] = append(root["allOf"].([]any), targetlessRules()...)
	root["$defs"] = g.defs
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

type gen struct {
	docs     Docs
	defs     obj
	defaults map[reflect.Type]reflect.Value
}

// collectDefaults records the default value of each struct type, where it
// first appears in Default().
func (g *gen) collectDefaults(v reflect.Value) {
	if v.Kind() != reflect.Struct {
		return
	}
	if _, ok := g.defaults[v.Type()]; !ok {
		g.defaults[v.Type()] = v
	}
	for _, fi := range infoOf(v.Type()).Fields {
		g.collectDefaults(v.Field(fi.Index))
	}
}

var (
	portSchema     = obj{"type": "integer", "minimum": 0, "maximum": 65535}
	typeStringList = reflect.TypeOf(StringList{})
	typePortList   = reflect.TypeOf(PortList{})
	typePortPair   = reflect.TypeOf(PortPair{})
	typeQuantity   = reflect.TypeOf(Quantity(""))
	typeDuration   = reflect.TypeOf(Duration{})
	typeImage      = reflect.TypeOf(AgentImage{})
	typeTargetPath = reflect.TypeOf(TargetPath{})
	typeTargetConf = reflect.TypeOf(TargetConfig{})
)

// shorthands are the extra forms a section accepts besides its object form.
var shorthands = map[reflect.Type][]any{
	reflect.TypeOf(EnvConfig{}):        {obj{"type": "boolean"}},
	reflect.TypeOf(FSConfig{}):         {obj{"type": "boolean"}, obj{"enum": fsModeRules.Enum}},
	reflect.TypeOf(NetworkConfig{}):    {obj{"type": "boolean"}},
	reflect.TypeOf(IncomingConfig{}):   {obj{"type": "boolean"}, obj{"enum": incomingModeRules.Enum}},
	reflect.TypeOf(OutgoingConfig{}):   {obj{"type": "boolean"}},
	reflect.TypeOf(DNSConfig{}):        {obj{"type": "boolean"}},
	reflect.TypeOf(HTTPFilterConfig{}): {obj{"type": "boolean"}},
	reflect.TypeOf(CopyTargetConfig{}): {obj{"type": "boolean"}},
}

func (g *gen) typeSchema(t reflect.Type, rules constraints, path string) obj {
	switch t {
	case typeStringList:
		item := g.stringSchema(rules)
		return obj{"anyOf": []any{item, obj{"type": "array", "items": item}}}
	case typePortList:
		return obj{"anyOf": []any{portSchema, obj{"type": "array", "items": portSchema}}}
	case typePortPair:
		return obj{"type": "array", "prefixItems": []any{portSchema, portSchema}, "items": false, "minItems": 2, "maxItems": 2}
	case typeQuantity:
		return obj{"anyOf": []any{obj{"type": "string", "pattern": quantityPattern}, obj{"type": "number"}}}
	case typeDuration:
		return obj{"anyOf": []any{obj{"type": "integer", "minimum": 0}, obj{"const": "infinite"}}}
	case typeImage:
		return obj{"anyOf": []any{obj{"type": "string", "pattern": `^\S+$`}, g.ref(t, path)}}
	case typeTargetPath:
		return obj{"anyOf": []any{obj{"type": "string", "pattern": targetPattern}, g.targetObject()}}
	case typeTargetConf:
		return obj{"anyOf": []any{obj{"type": "string", "pattern": targetPattern}, g.targetObject(), g.ref(t, path)}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem(), rules, path)
	case reflect.Struct:
		return g.ref(t, path)
	case reflect.String:
		return g.stringSchema(rules)
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return intSchema(t, rules)
	case reflect.Slice:
		item := g.typeSchema(t.Elem(), constraints{Format: rules.Format, Enum: rules.Enum}, path+"[]")
		s := obj{"type": "array", "items": item}
		if rules.Format == "unique-pairs" {
			s["format"] = rules.Format
			delete(item, "format")
		}
		if rules.MinItems > 0 {
			s["minItems"] = rules.MinItems
		}
		if rules.UniqueItems {
			s["uniqueItems"] = true
		}
		return s
	case reflect.Map:
		s := obj{"type": "object", "additionalProperties": g.typeSchema(t.Elem(), constraints{}, path+".*")}
		if rules.KeyFormat != "" {
			s["propertyNames"] = obj{"format": rules.KeyFormat}
		}
		return s
	}
	return obj{} // any value
}

func (g *gen) stringSchema(rules constraints) obj {
	s := obj{"type": "string"}
	if len(rules.Enum) > 0 {
		s["enum"] = rules.Enum
	}
	if rules.MinLength > 0 {
		s["minLength"] = rules.MinLength
	}
	if rules.Format != "" && rules.Format != "unique-pairs" {
		s["format"] = rules.Format
	}
	return s
}

func intSchema(t reflect.Type, rules constraints) obj {
	s := obj{"type": "integer"}
	lo, hi := intBounds(t, rules)
	if lo != math.MinInt64 {
		s["minimum"] = lo
	}
	if hi != math.MaxInt64 {
		s["maximum"] = hi
	}
	return s
}

func (g *gen) ref(t reflect.Type, path string) obj {
	name := t.Name()
	if _, ok := g.defs[name]; !ok {
		g.defs[name] = true // placeholder against recursion
		g.defs[name] = g.structSchema(t, path)
	}
	return obj{"$ref": "#/$defs/" + name}
}

func (g *gen) structSchema(t reflect.Type, path string) obj {
	props := obj{}
	var required []string
	si := infoOf(t)
	def, hasDef := g.defaults[t]
	for _, fi := range si.Fields {
		p := joinKey(path, fi.Name)
		ps := g.typeSchema(fi.Type, fi.Rules, p)
		if doc := g.docs[t.Name()+"."+t.Field(fi.Index).Name]; doc != "" {
			ps = withMeta(ps, obj{"description": doc})
		}
		if p != "" && !strings.Contains(p, "[]") && !strings.Contains(p, "*") {
			ps = withMeta(ps, obj{"title": p})
		}
		if hasDef {
			if v := def.Field(fi.Index); !v.IsZero() {
				ps = withMeta(ps, obj{"default": jsonValue(v.Interface())})
			}
		}
		if fi.Rules.Required {
			required = append(required, fi.Name)
		} else {
			ps = nullable(ps)
		}
		props[fi.Name] = ps
	}
	s := obj{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	var all []any
	for _, grp := range exclusive[t] {
		all = append(all, exclusiveSchema(grp)...)
	}
	if t == reflect.TypeOf(Config{}) {
		s["allOf"] = all
	} else if len(all) > 0 {
		s["allOf"] = all
	}
	if doc := g.docs[t.Name()]; doc != "" {
		s["description"] = doc
	}
	if alts, ok := shorthands[t]; ok {
		wrapped := obj{"anyOf": append(append([]any{}, alts...), s)}
		if doc := g.docs[t.Name()]; doc != "" {
			wrapped["description"] = doc
		}
		return wrapped
	}
	return s
}

// isSet matches an object whose key is present and not null.
func isSet(key string) obj {
	return obj{"required": []string{key}, "properties": obj{key: obj{"not": obj{"type": "null"}}}}
}

func exclusiveSchema(grp exclusiveGroup) []any {
	var pairs []any
	for i, a := range grp.Keys {
		for _, b := range grp.Keys[i+1:] {
			pairs = append(pairs, obj{"allOf": []any{isSet(a), isSet(b)}})
		}
	}
	out := []any{obj{"not": obj{"anyOf": pairs}}}
	if grp.One {
		var any1 []any
		for _, k := range grp.Keys {
			any1 = append(any1, isSet(k))
		}
		out = append(out, obj{"anyOf": any1})
	}
	return out
}

// targetlessRules reject, at the top level, steal and an ephemeral agent
// with an explicit "targetless" target (a missing target may still be
// chosen in an IDE, so only the explicit one is final).
func targetlessRules() []any {
	targetless := obj{"required": []string{"target"}, "properties": obj{"target": obj{"anyOf": []any{
		obj{"const": KindTargetless},
		obj{"type": "object", "required": []string{"path"}, "properties": obj{"path": obj{"const": KindTargetless}}},
	}}}}
	nested := func(leaf obj, keys ...string) obj {
		s := leaf
		for i := len(keys) - 1; i >= 0; i-- {
			s = obj{"type": "object", "required": []string{keys[i]}, "properties": obj{keys[i]: s}}
		}
		return s
	}
	steal := nested(obj{"anyOf": []any{obj{"const": IncomingSteal},
		obj{"type": "object", "required": []string{"mode"}, "properties": obj{"mode": obj{"const": IncomingSteal}}}}},
		"feature", "network", "incoming")
	ephemeral := nested(obj{"const": true}, "agent", "ephemeral")
	return []any{
		obj{"if": targetless, "then": obj{"not": steal}},
		obj{"if": targetless, "then": obj{"not": ephemeral}},
	}
}

func (g *gen) targetObject() obj {
	const name = "TargetObject"
	if _, ok := g.defs[name]; !ok {
		var alts []any
		keys := make([]string, 0, len(objectKeys))
		for k := range objectKeys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		container := obj{"type": []any{"string", "null"}, "pattern": "^" + containerPattern + "$"}
		for _, k := range keys {
			val := obj{"type": "string", "pattern": "^" + namePattern + "$"}
			if k == "labels" {
				val = obj{"type": "object", "minProperties": 1, "additionalProperties": obj{"type": "string"}}
			}
			alts = append(alts, obj{"type": "object", "additionalProperties": false, "required": []string{k},
				"properties": obj{k: val, "container": container}})
		}
		g.defs[name] = obj{"description": "A target as an object, such as {\"deployment\": \"web\", \"container\": \"app\"}.", "oneOf": alts}
	}
	return obj{"$ref": "#/$defs/" + name}
}

// withMeta adds annotation keys; a $ref is wrapped so the keys sit beside it.
func withMeta(s, meta obj) obj {
	out := obj{}
	for k, v := range s {
		out[k] = v
	}
	for k, v := range meta {
		out[k] = v
	}
	return out
}

// nullable lets a value be null, which means "not set".
func nullable(s obj) obj {
	if t, ok := s["type"].(string); ok && s["enum"] == nil {
		out := withMeta(s, obj{})
		out["type"] = []any{t, "null"}
		return out
	}
	ann := obj{}
	inner := obj{}
	for k, v := range s {
		switch k {
		case "description", "title", "default":
			ann[k] = v
		default:
			inner[k] = v
		}
	}
	ann["anyOf"] = []any{inner, obj{"type": "null"}}
	return ann
}

func jsonValue(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}
