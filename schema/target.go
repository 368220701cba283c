package schema

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/mirrord-go/mirrord/schema/internal/tree"
)

// These patterns are shared by the target parser and the JSON Schema.
const (
	namePattern      = `[a-z0-9]([-a-z0-9.]*[a-z0-9])?`
	containerPattern = `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
	labelKeyPattern  = `([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`
	labelValPattern  = `([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?`
	labelsPattern    = labelKeyPattern + `=` + labelValPattern + `(,` + labelKeyPattern + `=` + labelValPattern + `)*`
	// targetPattern matches every valid target string.
	targetPattern = `^(targetless|(pod|deployment|deploy|rollout|job|cronjob|statefulset|service|replicaset)/` + namePattern +
		`(/container/` + containerPattern + `)?|label/` + labelsPattern + `(/container/` + containerPattern + `)?)$`
	quantityPattern = `^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$`
)

var (
	nameRE      = regexp.MustCompile(`^` + namePattern + `$`)
	containerRE = regexp.MustCompile(`^` + containerPattern + `$`)
	labelKeyRE  = regexp.MustCompile(`^` + labelKeyPattern + `$`)
	labelValRE  = regexp.MustCompile(`^` + labelValPattern + `$`)
	quantityRE  = regexp.MustCompile(quantityPattern)
)

// kindAliases maps the words accepted in target strings to kinds.
var kindAliases = map[string]string{
	"pod": KindPod, "deployment": KindDeployment, "deploy": KindDeployment, "rollout": KindRollout,
	"job": KindJob, "cronjob": KindCronJob, "statefulset": KindStatefulSet, "service": KindService,
	"replicaset": KindReplicaSet, "label": KindLabel,
}

// objectKeys maps the keys of the object form of a target to kinds.
var objectKeys = map[string]string{
	"pod": KindPod, "deployment": KindDeployment, "rollout": KindRollout, "job": KindJob,
	"cron_job": KindCronJob, "stateful_set": KindStatefulSet, "service": KindService,
	"replica_set": KindReplicaSet, "labels": KindLabel,
}

const targetHint = `expected "targetless" or "<kind>/<name>[/container/<container>]" with kind one of pod, deployment (deploy), rollout, statefulset, replicaset, job, cronjob, service, or "label/<key>=<value>,..."`

// ParseTarget parses a target string such as "deploy/web/container/app".
func ParseTarget(s string) (*TargetPath, error) {
	if s == KindTargetless {
		return &TargetPath{Kind: KindTargetless}, nil
	}
	parts := strings.Split(s, "/")
	kind, ok := kindAliases[parts[0]]
	if !ok {
		aliases := make([]string, 0, len(kindAliases))
		for a := range kindAliases {
			aliases = append(aliases, a)
		}
		sort.Strings(aliases)
		if best := closest(strings.ToLower(parts[0]), append(aliases, KindTargetless)); best != "" && len(parts) > 1 {
			return nil, fmt.Errorf("invalid target %q: unknown kind %q; did you mean %q?", s, parts[0], best)
		}
		return nil, fmt.Errorf("invalid target %q: %s", s, targetHint)
	}
	if len(parts) != 2 && !(len(parts) == 4 && parts[2] == "container") {
		return nil, fmt.Errorf("invalid target %q: %s", s, targetHint)
	}
	t := &TargetPath{Kind: kind}
	if kind == KindLabel {
		labels, err := parseLabels(parts[1])
		if err != nil {
			return nil, fmt.Errorf("invalid target %q: %w", s, err)
		}
		t.Labels = labels
	} else {
		if !nameRE.MatchString(parts[1]) || len(parts[1]) > 253 {
			return nil, fmt.Errorf("invalid target %q: %q is not a valid %s name (lowercase letters, digits, '-' and '.')", s, parts[1], kind)
		}
		t.Name = parts[1]
	}
	if len(parts) == 4 {
		if !containerRE.MatchString(parts[3]) || len(parts[3]) > 63 {
			return nil, fmt.Errorf("invalid target %q: %q is not a valid container name", s, parts[3])
		}
		t.Container = parts[3]
	}
	return t, nil
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !labelKeyRE.MatchString(k) || !labelValRE.MatchString(v) {
			return nil, fmt.Errorf("invalid label selector %q: expected key=value pairs separated by commas", s)
		}
		out[k] = v
	}
	return out, nil
}

// String renders the canonical target string.
func (t *TargetPath) String() string {
	if t == nil {
		return ""
	}
	var s string
	switch t.Kind {
	case KindTargetless:
		return KindTargetless
	case KindLabel:
		keys := make([]string, 0, len(t.Labels))
		for k := range t.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			keys[i] = k + "=" + t.Labels[k]
		}
		s = "label/" + strings.Join(keys, ",")
	default:
		s = t.Kind + "/" + t.Name
	}
	if t.Container != "" {
		s += "/container/" + t.Container
	}
	return s
}

// MarshalJSON gives upstream's shape: "targetless" or {"pod": "x", "container": null}.
func (t *TargetPath) MarshalJSON() ([]byte, error) {
	if t.Kind == KindTargetless {
		return json.Marshal(KindTargetless)
	}
	var container any
	if t.Container != "" {
		container = t.Container
	}
	for key, kind := range objectKeys {
		if kind != t.Kind {
			continue
		}
		if kind == KindLabel {
			return json.Marshal(map[string]any{key: t.Labels, "container": container})
		}
		return json.Marshal(map[string]any{key: t.Name, "container": container})
	}
	return nil, fmt.Errorf("unknown target kind %q", t.Kind)
}

// UnmarshalJSON accepts the string and object forms, for configs passed to
// child processes as JSON.
func (t *TargetPath) UnmarshalJSON(b []byte) error {
	n, err := tree.Parse(tree.JSON, b)
	if err != nil {
		return err
	}
	var d decoder
	t.decodeNode(&d, n, "target.path", constraints{})
	if len(d.errs) > 0 {
		return fmt.Errorf("%s", d.errs[0].String())
	}
	return nil
}

func (t *TargetPath) decodeNode(d *decoder, n *tree.Node, path string, _ constraints) {
	switch n.Kind {
	case tree.String:
		p, err := ParseTarget(n.Str)
		if err != nil {
			d.errorf(n.Pos, path, "%v", err)
			return
		}
		*t = *p
	case tree.Object:
		d.decodeTargetObject(n, path, t)
	default:
		d.errorf(n.Pos, path, "expected a target string such as \"deployment/web\" or an object such as {\"deployment\": \"web\"}, found %s", n.Describe())
	}
}

func (d *decoder) decodeTargetObject(n *tree.Node, path string, t *TargetPath) {
	*t = TargetPath{}
	for _, f := range n.Fields {
		key := joinKey(path, f.Key)
		if f.Key == "container" {
			if f.Value.Kind == tree.Null {
				continue
			}
			if d.expect(f.Value, key, tree.String) {
				if !containerRE.MatchString(f.Value.Str) {
					d.errorf(f.Value.Pos, key, "%q is not a valid container name", f.Value.Str)
				}
				t.Container = f.Value.Str
			}
			continue
		}
		kind, ok := objectKeys[f.Key]
		if !ok {
			names := []string{"container"}
			for k := range objectKeys {
				names = append(names, k)
			}
			sort.Strings(names)
			msg := fmt.Sprintf("unknown key %q in %s", f.Key, path)
			if best := closest(f.Key, names); best != "" {
				msg += fmt.Sprintf("; did you mean %q?", best)
			} else {
				msg += "; valid keys: " + strings.Join(names, ", ")
			}
			d.errs = append(d.errs, Issue{Pos: f.KeyPos, Path: key, Msg: msg})
			continue
		}
		if t.Kind != "" {
			d.errorf(f.KeyPos, key, "a target names one workload, but both %q and %q are set", t.Kind, kind)
			continue
		}
		t.Kind = kind
		if kind == KindLabel {
			d.decode(f.Value, key, reflect.ValueOf(&t.Labels).Elem(), constraints{})
			if len(t.Labels) == 0 {
				d.errorf(f.Value.Pos, key, "a label target needs at least one label")
			}
			continue
		}
		if d.expect(f.Value, key, tree.String) {
			if !nameRE.MatchString(f.Value.Str) {
				d.errorf(f.Value.Pos, key, "%q is not a valid %s name (lowercase letters, digits, '-' and '.')", f.Value.Str, kind)
			}
			t.Name = f.Value.Str
		}
	}
	if t.Kind == "" {
		d.errorf(n.Pos, path, "the target object names no workload: use one of pod, deployment, rollout, job, cron_job, stateful_set, service, replica_set, labels")
	}
}

func (c *TargetConfig) decodeNode(d *decoder, n *tree.Node, path string, _ constraints) {
	switch {
	case n.Kind == tree.String:
		c.Path = &TargetPath{}
		c.Path.decodeNode(d, n, joinKey(path, "path"), constraints{})
	case n.Kind == tree.Object && (n.Get("path") != nil || n.Get("namespace") != nil || len(n.Fields) == 0):
		d.decodeStruct(n, path, reflect.ValueOf(c).Elem())
	case n.Kind == tree.Object:
		c.Path = &TargetPath{}
		d.decodeTargetObject(n, path, c.Path)
	default:
		d.errorf(n.Pos, path, "expected a target string such as \"deployment/web\", or an object, found %s", n.Describe())
	}
}
