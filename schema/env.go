package schema

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/mirrord-go/mirrord/schema/internal/tree"
)

// envOverride maps an environment variable to the key it sets. Values are
// turned into a document node and decoded at the key's path, so an env value
// gets exactly the checks a file value gets.
type envOverride struct {
	Env  string
	Path string
	Conv func(string) (*tree.Node, error)
}

func asString(v string) (*tree.Node, error) { return &tree.Node{Kind: tree.String, Str: v}, nil }

func asBool(v string) (*tree.Node, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return &tree.Node{Kind: tree.Bool, Bool: true}, nil
	case "false", "0", "no", "off":
		return &tree.Node{Kind: tree.Bool, Bool: false}, nil
	}
	return nil, fmt.Errorf("expected true or false, found %q", v)
}

func asInt(v string) (*tree.Node, error) {
	i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("expected an integer, found %q", v)
	}
	return &tree.Node{Kind: tree.Int, Int: i}, nil
}

// asList splits a `;`-separated list, as upstream does for list variables.
func asList(v string) (*tree.Node, error) {
	n := &tree.Node{Kind: tree.Array}
	for _, s := range strings.Split(v, ";") {
		if s = strings.TrimSpace(s); s != "" {
			n.Items = append(n.Items, &tree.Node{Kind: tree.String, Str: s})
		}
	}
	return n, nil
}

// asPorts splits a `,`- or `;`-separated list of ports.
func asPorts(v string) (*tree.Node, error) {
	n := &tree.Node{Kind: tree.Array}
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		p, err := asInt(s)
		if err != nil {
			return nil, err
		}
		n.Items = append(n.Items, p)
	}
	return n, nil
}

// whenTrue sets a fixed string when the variable is true, and another when false.
func whenTrue(yes, no string) func(string) (*tree.Node, error) {
	return func(v string) (*tree.Node, error) {
		b, err := asBool(v)
		if err != nil {
			return nil, err
		}
		if b.Bool {
			return asString(yes)
		}
		if no == "" {
			return nil, nil
		}
		return asString(no)
	}
}

// EnvOverrides lists every environment variable that overrides a config key,
// in the order they are applied (later ones win on the same key).
var envOverrides = []envOverride{
	{"MIRRORD_ACCEPT_INVALID_CERTIFICATES", "accept_invalid_certificates", asBool},
	{"MIRRORD_SKIP_PROCESSES", "skip_processes", asList},
	{"MIRRORD_SKIP_BUILD_TOOLS", "skip_build_tools", asBool},
	{"MIRRORD_OPERATOR_ENABLE", "operator", asBool},
	{"MIRRORD_MULTI_CLUSTER", "multi_cluster", asBool},
	{"MIRRORD_API", "api", asBool},
	{"MIRRORD_KUBECONFIG", "kubeconfig", asString},
	{"MIRRORD_KUBE_CONTEXT", "kube_context", asString},
	{"MIRRORD_SKIP_SIP", "skip_sip", asList},
	{"MIRRORD_TELEMETRY", "telemetry", asBool},
	{"MIRRORD_PROXY", "use_proxy", asBool},
	{"MIRRORD_KEY", "key", asString},
	{"TRACEPARENT", "traceparent", asString},
	{"BAGGAGE", "baggage", asString},
	{"MIRRORD_IMPERSONATED_TARGET", "target.path", asString},
	{"MIRRORD_TARGET_NAMESPACE", "target.namespace", asString},
	{"MIRRORD_AGENT_RUST_LOG", "agent.log_level", asString},
	{"MIRRORD_AGENT_JSON_LOG", "agent.json_log", asBool},
	{"MIRRORD_AGENT_NAMESPACE", "agent.namespace", asString},
	{"MIRRORD_AGENT_IMAGE_REGISTRY", "agent.image.registry", asString},
	{"MIRRORD_AGENT_IMAGE_TAG", "agent.image.tag", asString},
	{"MIRRORD_AGENT_IMAGE", "agent.image", asString},
	{"MIRRORD_AGENT_IMAGE_PULL_POLICY", "agent.image_pull_policy", asString},
	{"MIRRORD_AGENT_TTL", "agent.ttl", asInt},
	{"MIRRORD_EPHEMERAL_CONTAINER", "agent.ephemeral", asBool},
	{"MIRRORD_AGENT_COMMUNICATION_TIMEOUT", "agent.communication_timeout", asInt},
	{"MIRRORD_AGENT_STARTUP_TIMEOUT", "agent.startup_timeout", asInt},
	{"MIRRORD_AGENT_STEALER_FLUSH_CONNECTIONS", "agent.flush_connections", asBool},
	{"MIRRORD_AGENT_EXTERNAL_IP_FIX", "agent.external_ip_fix", asBool},
	{"MIRRORD_AGENT_EXCLUDE_FROM_MESH", "agent.exclude_from_mesh", asBool},
	{"MIRRORD_AGENT_HTTP_DETECTION_TIMEOUT", "agent.http_detection_timeout", asInt},
	{"MIRRORD_AGENT_CLEAN_IPTABLES_ON_START", "agent.clean_iptables_on_start", asBool},
	{"MIRRORD_OVERRIDE_ENV_VARS_INCLUDE", "feature.env.include", asString},
	{"MIRRORD_OVERRIDE_ENV_VARS_EXCLUDE", "feature.env.exclude", asString},
	{"MIRRORD_OVERRIDE_ENV_VARS_FILE", "feature.env.env_file", asString},
	{"MIRRORD_ENV_LOAD_FROM_PROCESS", "feature.env.load_from_process", asBool},
	{"MIRRORD_FILE_RO_OPS", "feature.fs.mode", whenTrue(FSRead, "")},
	{"MIRRORD_FILE_OPS", "feature.fs.mode", whenTrue(FSWrite, "")},
	{"MIRRORD_FILE_MODE", "feature.fs.mode", asString},
	{"MIRRORD_FILE_READ_WRITE_PATTERN", "feature.fs.read_write", asList},
	{"MIRRORD_FILE_READ_ONLY_PATTERN", "feature.fs.read_only", asList},
	{"MIRRORD_FILE_LOCAL_PATTERN", "feature.fs.local", asList},
	{"MIRRORD_ENABLE_IPV6", "feature.network.ipv6", asBool},
	{"MIRRORD_AGENT_TCP_STEAL_TRAFFIC", "feature.network.incoming.mode", whenTrue(IncomingSteal, IncomingOff)},
	{"MIRRORD_HTTP_HEADER_FILTER", "feature.network.incoming.http_filter.header_filter", asString},
	{"MIRRORD_HTTP_PATH_FILTER", "feature.network.incoming.http_filter.path_filter", asString},
	{"MIRRORD_HTTP_METHOD_FILTER", "feature.network.incoming.http_filter.method_filter", asString},
	{"MIRRORD_HTTP_HEADER_FILTER_JQ", "feature.network.incoming.http_filter.header_filter_jq", asString},
	{"MIRRORD_HTTP_FILTER_PORTS", "feature.network.incoming.http_filter.ports", asPorts},
	{"MIRRORD_OPERATOR_ON_CONCURRENT_STEAL", "feature.network.incoming.on_concurrent_steal", asString},
	{"MIRRORD_TCP_OUTGOING", "feature.network.outgoing.tcp", asBool},
	{"MIRRORD_UDP_OUTGOING", "feature.network.outgoing.udp", asBool},
	{"MIRRORD_OUTGOING_REMOTE_UNIX_STREAMS", "feature.network.outgoing.unix_streams", asList},
	{"MIRRORD_REMOTE_DNS", "feature.network.dns.enabled", asBool},
}

// EnvVars returns the names of every variable that overrides a config key.
func EnvVars() []string {
	out := make([]string, len(envOverrides))
	for i, o := range envOverrides {
		out[i] = o.Env
	}
	return out
}

// applyOverrides applies variables from lookup. source names where they came
// from in messages ("environment variable" or a flag).
func (d *decoder) applyOverrides(cfg *Config, lookup func(string) (string, bool), source func(env string) string) {
	for _, o := range envOverrides {
		v, ok := lookup(o.Env)
		if !ok || v == "" {
			continue
		}
		n, err := o.Conv(v)
		if err != nil {
			d.errs = append(d.errs, Issue{File: source(o.Env), Path: o.Path, Msg: err.Error()})
			continue
		}
		if n == nil {
			continue
		}
		before := len(d.errs)
		field, rules, ok := fieldByPath(reflect.ValueOf(cfg).Elem(), o.Path)
		if !ok {
			d.errs = append(d.errs, Issue{File: source(o.Env), Path: o.Path, Msg: "internal: no such key"})
			continue
		}
		d.decode(n, o.Path, field, rules)
		for i := before; i < len(d.errs); i++ {
			d.errs[i].File = source(o.Env)
		}
	}
}

// fieldByPath walks a key path through nested structs, allocating pointers
// on the way, and returns the field with its tag rules.
func fieldByPath(v reflect.Value, path string) (reflect.Value, constraints, bool) {
	var rules constraints
	for _, key := range strings.Split(path, ".") {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		fi := infoOf(v.Type()).byName[key]
		if fi == nil {
			return reflect.Value{}, rules, false
		}
		v, rules = v.Field(fi.Index), fi.Rules
	}
	return v, rules, true
}
