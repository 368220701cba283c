package schema

import (
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// constraints are the `jsonschema:"..."` struct tag rules. The loader checks
// them and the schema generator emits them, so the two cannot disagree.
type constraints struct {
	Required    bool
	Enum        []string
	Minimum     *int64
	Maximum     *int64
	MinLength   int
	MinItems    int
	UniqueItems bool
	Format      string // applies to the string, or to each string of a list
	KeyFormat   string // applies to map keys (mirrord:"keyformat=...")
}

func parseConstraints(f reflect.StructField) constraints {
	var c constraints
	for _, part := range strings.Split(f.Tag.Get("jsonschema"), ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "required":
			c.Required = true
		case "enum":
			c.Enum = append(c.Enum, v)
		case "minimum":
			n, _ := strconv.ParseInt(v, 10, 64)
			c.Minimum = &n
		case "maximum":
			n, _ := strconv.ParseInt(v, 10, 64)
			c.Maximum = &n
		case "minLength":
			c.MinLength, _ = strconv.Atoi(v)
		case "minItems":
			c.MinItems, _ = strconv.Atoi(v)
		case "uniqueItems":
			c.UniqueItems = v == "true"
		case "format":
			c.Format = v
		}
	}
	if kf, ok := strings.CutPrefix(f.Tag.Get("mirrord"), "keyformat="); ok {
		c.KeyFormat = kf
	}
	return c
}

// fieldInfo describes one config key of a struct.
type fieldInfo struct {
	Name  string
	Index int
	Type  reflect.Type
	Rules constraints
}

// structInfo is the key table of one struct type.
type structInfo struct {
	Fields []fieldInfo
	byName map[string]*fieldInfo
	Names  []string // sorted, for suggestions
}

var structInfos sync.Map // reflect.Type -> *structInfo

func infoOf(t reflect.Type) *structInfo {
	if v, ok := structInfos.Load(t); ok {
		return v.(*structInfo)
	}
	si := &structInfo{byName: map[string]*fieldInfo{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		si.Fields = append(si.Fields, fieldInfo{Name: name, Index: i, Type: f.Type, Rules: parseConstraints(f)})
	}
	for i := range si.Fields {
		si.byName[si.Fields[i].Name] = &si.Fields[i]
		si.Names = append(si.Names, si.Fields[i].Name)
	}
	sort.Strings(si.Names)
	structInfos.Store(t, si)
	return si
}
