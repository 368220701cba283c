package schema

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/agnivade/levenshtein"
	"github.com/mirrord-go/mirrord/schema/internal/tree"
)

// Issue is one problem found in a config: an error or a warning, with the
// key path it concerns and, when it comes from a file, where it is.
type Issue struct {
	File string   `json:"file,omitempty"`
	Pos  tree.Pos `json:"-"`
	Path string   `json:"path,omitempty"`
	Msg  string   `json:"message"`
}

// Line and Col give the 1-based position, 0 when unknown.
func (i Issue) Line() int { return i.Pos.Line }

// Col is the 1-based column, 0 when unknown.
func (i Issue) Col() int { return i.Pos.Col }

// String renders "file:line:col: key.path: message".
func (i Issue) String() string {
	var b strings.Builder
	if i.File != "" {
		b.WriteString(i.File)
		if i.Pos.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", i.Pos.Line, i.Pos.Col)
		}
		b.WriteString(": ")
	}
	if i.Path != "" {
		b.WriteString(i.Path)
		b.WriteString(": ")
	}
	b.WriteString(i.Msg)
	return b.String()
}

// nodeDecoder is implemented by config types that accept more than one shape
// (a toggle, a mode string or an object).
type nodeDecoder interface {
	decodeNode(d *decoder, n *tree.Node, path string, rules constraints)
}

// decoder fills config structs from a document tree. It collects every
// problem instead of stopping at the first, so a user fixes them in one go.
type decoder struct {
	errs []Issue
	// keys records each key path present in the document, for the
	// "not supported yet" warnings.
	keys []string
}

func (d *decoder) errorf(pos tree.Pos, path, format string, args ...any) {
	d.errs = append(d.errs, Issue{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode stores n into v, which must be addressable. A null leaves v as it
// is: null means "not set", so the default stays.
func (d *decoder) decode(n *tree.Node, path string, v reflect.Value, rules constraints) {
	if n.Kind == tree.Null {
		return
	}
	if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
		nd.decodeNode(d, n, path, rules)
		return
	}
	d.decodePlain(n, path, v, rules)
}

func (d *decoder) decodePlain(n *tree.Node, path string, v reflect.Value, rules constraints) {
	switch v.Kind() {
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		if !v.IsNil() {
			nv.Elem().Set(v.Elem())
		}
		d.decode(n, path, nv.Elem(), rules)
		v.Set(nv)
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.String:
		if d.expect(n, path, tree.String) {
			d.checkString(n, path, n.Str, rules)
			v.SetString(n.Str)
		}
	case reflect.Bool:
		if d.expect(n, path, tree.Bool) {
			v.SetBool(n.Bool)
		}
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if i, ok := d.integer(n, path, v.Type(), rules); ok {
			if v.CanInt() {
				v.SetInt(i)
			} else {
				v.SetUint(uint64(i))
			}
		}
	case reflect.Slice:
		d.decodeSlice(n, path, v, rules)
	case reflect.Array:
		d.decodeArray(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v, rules)
	case reflect.Interface:
		v.Set(reflect.ValueOf(n.Interface()))
	default:
		d.errorf(n.Pos, path, "internal: cannot decode into %s", v.Type())
	}
}

// expect reports a type error unless n has the wanted kind.
func (d *decoder) expect(n *tree.Node, path string, want tree.Kind) bool {
	if n.Kind == want {
		return true
	}
	d.errorf(n.Pos, path, "expected %s, found %s", article(want.String()), n.Describe())
	return false
}

func article(s string) string {
	if strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

func (d *decoder) integer(n *tree.Node, path string, t reflect.Type, rules constraints) (int64, bool) {
	if n.Kind == tree.Float && n.Float == math.Trunc(n.Float) && math.Abs(n.Float) < 1<<53 {
		n = &tree.Node{Kind: tree.Int, Int: int64(n.Float), Pos: n.Pos}
	}
	if !d.expect(n, path, tree.Int) {
		return 0, false
	}
	lo, hi := intBounds(t, rules)
	if n.Int < lo || n.Int > hi {
		if hi == math.MaxInt64 {
			d.errorf(n.Pos, path, "expected an integer of at least %d, found %d", lo, n.Int)
		} else {
			d.errorf(n.Pos, path, "expected an integer from %d to %d, found %d", lo, hi, n.Int)
		}
		return 0, false
	}
	return n.Int, true
}

// intBounds gives the allowed range of an integer field: its Go type's range
// narrowed by the minimum and maximum tags. The generator uses it too.
func intBounds(t reflect.Type, rules constraints) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	switch t.Kind() {
	case reflect.Uint16:
		lo, hi = 0, math.MaxUint16
	case reflect.Uint32:
		lo, hi = 0, math.MaxUint32
	case reflect.Uint64:
		lo = 0
	case reflect.Int32:
		lo, hi = math.MinInt32, math.MaxInt32
	}
	if rules.Minimum != nil && *rules.Minimum > lo {
		lo = *rules.Minimum
	}
	if rules.Maximum != nil && *rules.Maximum < hi {
		hi = *rules.Maximum
	}
	return lo, hi
}

// checkString applies enum, minLength and format rules.
func (d *decoder) checkString(n *tree.Node, path, s string, rules constraints) {
	if len(rules.Enum) > 0 && !contains(rules.Enum, s) {
		msg := fmt.Sprintf("invalid value %q, expected one of %s", s, quoteList(rules.Enum))
		if best := closest(strings.ToLower(s), rules.Enum); best != "" {
			msg += fmt.Sprintf("; did you mean %q?", best)
		}
		d.errorf(n.Pos, path, "%s", msg)
		return
	}
	if len(s) < rules.MinLength {
		d.errorf(n.Pos, path, "must not be empty")
		return
	}
	d.checkFormat(n, path, rules.Format, s)
}

func (d *decoder) checkFormat(n *tree.Node, path, format, s string) {
	if format == "" {
		return
	}
	if check, ok := formats[format]; ok {
		if err := check(s); err != nil {
			d.errorf(n.Pos, path, "invalid %s %q: %v", formatNames[format], s, err)
		}
	}
}

var formatNames = map[string]string{"regex": "regex", "http-regex": "regex", "jq": "jq filter", "jsonpath": "JSONPath query", "traffic-filter": "filter", "dns-label": "name"}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quoteList(list []string) string {
	q := make([]string, 0, len(list))
	for _, s := range list {
		if s != "" {
			q = append(q, fmt.Sprintf("%q", s))
		}
	}
	return strings.Join(q, ", ")
}

func (d *decoder) decodeStruct(n *tree.Node, path string, v reflect.Value) {
	if !d.expect(n, path, tree.Object) {
		return
	}
	si := infoOf(v.Type())
	for _, f := range n.Fields {
		key := joinKey(path, f.Key)
		fi := si.byName[f.Key]
		if fi == nil {
			d.unknownKey(f, path, si)
			continue
		}
		d.keys = append(d.keys, key)
		d.decode(f.Value, key, v.Field(fi.Index), fi.Rules)
	}
	for _, fi := range si.Fields {
		if fi.Rules.Required && n.Get(fi.Name) == nil {
			d.errorf(n.Pos, path, "missing required key %q", fi.Name)
		}
	}
}

func (d *decoder) unknownKey(f tree.Field, path string, si *structInfo) {
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	msg := fmt.Sprintf("unknown key %q %s", f.Key, where)
	if best := closest(f.Key, si.Names); best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	} else if home := keyHome(f.Key); home != "" && home != joinKey(path, f.Key) {
		msg += fmt.Sprintf("; %q is a key of %s", f.Key, parentPath(home))
	} else {
		msg += "; valid keys: " + strings.Join(si.Names, ", ")
	}
	d.errs = append(d.errs, Issue{Pos: f.KeyPos, Path: joinKey(path, f.Key), Msg: msg})
}

func parentPath(p string) string {
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return "the top level"
}

// closest returns the candidate nearest to s when it is near enough to be a
// likely misspelling.
func closest(s string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	for _, c := range candidates {
		if dist := levenshtein.ComputeDistance(s, c); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	limit := max(2, len(s)/3)
	if bestDist <= limit {
		return best
	}
	return ""
}

func (d *decoder) decodeSlice(n *tree.Node, path string, v reflect.Value, rules constraints) {
	if !d.expect(n, path, tree.Array) {
		return
	}
	if len(n.Items) < rules.MinItems {
		d.errorf(n.Pos, path, "must not be empty")
	}
	out := reflect.MakeSlice(v.Type(), len(n.Items), len(n.Items))
	itemRules := constraints{Format: rules.Format, Enum: rules.Enum}
	seen := map[string]bool{}
	for i, it := range n.Items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.decode(it, ip, out.Index(i), itemRules)
		if rules.UniqueItems && it.Kind == tree.String {
			if seen[it.Str] {
				d.errorf(it.Pos, ip, "duplicate entry %q", it.Str)
			}
			seen[it.Str] = true
		}
	}
	v.Set(out)
}

func (d *decoder) decodeArray(n *tree.Node, path string, v reflect.Value) {
	if !d.expect(n, path, tree.Array) {
		return
	}
	if len(n.Items) != v.Len() {
		d.errorf(n.Pos, path, "expected a pair [a, b] of %d values, found %d", v.Len(), len(n.Items))
		return
	}
	for i, it := range n.Items {
		d.decode(it, fmt.Sprintf("%s[%d]", path, i), v.Index(i), constraints{})
	}
}

func (d *decoder) decodeMap(n *tree.Node, path string, v reflect.Value, rules constraints) {
	if !d.expect(n, path, tree.Object) {
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(n.Fields))
	for _, f := range n.Fields {
		key := joinKey(path, f.Key)
		if rules.KeyFormat != "" {
			d.checkFormat(&tree.Node{Pos: f.KeyPos}, key, rules.KeyFormat, f.Key)
		}
		ev := reflect.New(v.Type().Elem()).Elem()
		d.decode(f.Value, key, ev, constraints{})
		out.SetMapIndex(reflect.ValueOf(f.Key).Convert(v.Type().Key()), ev)
	}
	v.Set(out)
}
