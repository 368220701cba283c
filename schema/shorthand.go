package schema

import (
	"errors"
	"reflect"
	"strconv"
	"strings"

	"github.com/mirrord-go/mirrord/schema/internal/tree"
)

// The decoders below accept upstream's short forms: a toggle (`true` or
// `false`), a mode string, or a single value where a list is expected.

func (s *StringList) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	d.decodeListOrSingle(n, path, reflect.ValueOf(s).Elem(), tree.String, rules)
}

func (p *PortList) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	d.decodeListOrSingle(n, path, reflect.ValueOf(p).Elem(), tree.Int, rules)
}

// decodeListOrSingle wraps a single value into a one-element list. The field's
// rules (a format, say) reach each element through d.decodePlain.
func (d *decoder) decodeListOrSingle(n *tree.Node, path string, v reflect.Value, single tree.Kind, rules constraints) {
	if n.Kind == single || n.Kind == tree.Float && single == tree.Int {
		n = &tree.Node{Kind: tree.Array, Items: []*tree.Node{n}, Pos: n.Pos}
	} else if n.Kind != tree.Array {
		d.errorf(n.Pos, path, "expected %s or a list of them, found %s", article(single.String()), n.Describe())
		return
	}
	d.decodeSlice(n, path, v, rules)
}

func (q *Quantity) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	switch n.Kind {
	case tree.String:
		if !quantityRE.MatchString(n.Str) {
			d.errorf(n.Pos, path, "invalid Kubernetes quantity %q (examples: \"100Mi\", \"1\", \"250m\")", n.Str)
			return
		}
		*q = Quantity(n.Str)
	case tree.Int:
		*q = Quantity(strconv.FormatInt(n.Int, 10))
	case tree.Float:
		*q = Quantity(strconv.FormatFloat(n.Float, 'f', -1, 64))
	default:
		d.errorf(n.Pos, path, "expected a Kubernetes quantity such as \"100Mi\", found %s", n.Describe())
	}
}

func (t *Duration) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	switch {
	case n.Kind == tree.String && n.Str == "infinite":
		*t = Duration{Infinite: true}
	case n.Kind == tree.Int && n.Int >= 0 && n.Int <= 1<<31:
		*t = Duration{Value: int(n.Int)}
	default:
		d.errorf(n.Pos, path, "expected a non-negative integer or \"infinite\", found %s", n.Describe())
	}
}

// MarshalJSON writes the file form, a number or "infinite", so that a
// resolved config reads back as a config file.
func (t Duration) MarshalJSON() ([]byte, error) {
	if t.Infinite {
		return []byte(`"infinite"`), nil
	}
	return []byte(strconv.Itoa(t.Value)), nil
}

// UnmarshalJSON reads the file form back.
func (t *Duration) UnmarshalJSON(b []byte) error {
	n, err := tree.Parse(tree.JSON, b)
	if err != nil {
		return err
	}
	var d decoder
	t.decodeNode(&d, n, "", constraints{})
	if len(d.errs) > 0 {
		return errors.New(d.errs[0].Msg)
	}
	return nil
}

func (img *AgentImage) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	if n.Kind == tree.String {
		if strings.TrimSpace(n.Str) == "" || strings.ContainsAny(n.Str, " \t") {
			d.errorf(n.Pos, path, "invalid image reference %q", n.Str)
			return
		}
		*img = ParseImage(n.Str)
		return
	}
	if n.Kind != tree.Object {
		d.errorf(n.Pos, path, "expected an image reference string or {\"registry\": ..., \"tag\": ...}, found %s", n.Describe())
		return
	}
	d.decodeStruct(n, path, reflect.ValueOf(img).Elem())
}

// ParseImage splits "repo[:tag]" (a digest stays part of the repository).
func ParseImage(ref string) AgentImage {
	if strings.Contains(ref, "@") {
		return AgentImage{Registry: ref}
	}
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return AgentImage{Registry: ref[:colon], Tag: ref[colon+1:]}
	}
	return AgentImage{Registry: ref}
}

// Ref renders the image as "repo:tag", using defaultTag when no tag is set.
func (img AgentImage) Ref(defaultTag string) string {
	if strings.Contains(img.Registry, "@") {
		return img.Registry
	}
	tag := img.Tag
	if tag == "" {
		tag = defaultTag
	}
	return img.Registry + ":" + tag
}

func (r *ResourceRequirements) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	// Given resources replace the defaults as a whole: keeping a default
	// limit next to a user's larger request would make an invalid pod.
	*r = ResourceRequirements{}
	d.decodeStruct(n, path, reflect.ValueOf(r).Elem())
}

func (e *EnvConfig) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	if n.Kind == tree.Bool {
		if !n.Bool {
			*e = EnvConfig{Exclude: StringList{"*"}}
		}
		return
	}
	d.decodeToggleObject(n, path, reflect.ValueOf(e).Elem(), "true, false or an object")
}

func (f *FSConfig) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	switch n.Kind {
	case tree.Bool:
		if !n.Bool {
			f.Mode = FSLocal
		}
	case tree.String:
		d.decodePlain(n, path+".mode", reflect.ValueOf(&f.Mode).Elem(), fsModeRules)
	default:
		d.decodeToggleObject(n, path, reflect.ValueOf(f).Elem(), "true, false, a mode (\"read\", \"write\", \"local\", \"localwithoverrides\") or an object")
	}
}

var fsModeRules = constraints{Enum: []string{FSRead, FSWrite, FSLocal, FSLocalWithOverrides}}

func (c *NetworkConfig) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	if n.Kind == tree.Bool {
		if !n.Bool {
			c.Incoming.Mode = IncomingOff
			c.Outgoing.TCP, c.Outgoing.UDP = false, false
			c.DNS.Enabled = false
		}
		return
	}
	d.decodeToggleObject(n, path, reflect.ValueOf(c).Elem(), "true, false or an object")
}

func (c *IncomingConfig) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	switch n.Kind {
	case tree.Bool:
		if !n.Bool {
			c.Mode = IncomingOff
		}
	case tree.String:
		d.decodePlain(n, path+".mode", reflect.ValueOf(&c.Mode).Elem(), incomingModeRules)
	default:
		d.decodeToggleObject(n, path, reflect.ValueOf(c).Elem(), "true, false, \"mirror\", \"steal\", \"off\" or an object")
	}
}

var incomingModeRules = constraints{Enum: []string{IncomingMirror, IncomingSteal, IncomingOff}}

func (c *OutgoingConfig) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	if n.Kind == tree.Bool {
		c.TCP, c.UDP = n.Bool, n.Bool
		return
	}
	d.decodeToggleObject(n, path, reflect.ValueOf(c).Elem(), "true, false or an object")
}

func (c *DNSConfig) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	if n.Kind == tree.Bool {
		c.Enabled = n.Bool
		return
	}
	d.decodeToggleObject(n, path, reflect.ValueOf(c).Elem(), "true, false or an object")
}

func (c *HTTPFilterConfig) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	if n.Kind == tree.Bool {
		if !n.Bool {
			*c = HTTPFilterConfig{}
		}
		return
	}
	d.decodeToggleObject(n, path, reflect.ValueOf(c).Elem(), "true, false or an object")
}

func (c *CopyTargetConfig) decodeNode(d *decoder, n *tree.Node, path string, rules constraints) {
	if n.Kind == tree.Bool {
		c.Enabled = n.Bool
		return
	}
	d.decodeToggleObject(n, path, reflect.ValueOf(c).Elem(), "true, false or an object")
	// Upstream: an object form means "copy the target" unless it says otherwise.
	if n.Kind == tree.Object && n.Get("enabled") == nil {
		c.Enabled = true
	}
}

func (d *decoder) decodeToggleObject(n *tree.Node, path string, v reflect.Value, want string) {
	if n.Kind != tree.Object {
		d.errorf(n.Pos, path, "expected %s, found %s", want, n.Describe())
		return
	}
	d.decodeStruct(n, path, v)
}
