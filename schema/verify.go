package schema

import (
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
)

// exclusive lists groups of keys of which at most one may be set (exactly
// one when One is true). The loader checks them on the resolved config and
// the schema generator emits them, so both enforce the same rules.
var exclusive = map[reflect.Type][]exclusiveGroup{
	reflect.TypeOf(EnvConfig{}):      {{Keys: []string{"include", "exclude"}}},
	reflect.TypeOf(IncomingConfig{}): {{Keys: []string{"ports", "ignore_ports"}}, {Keys: []string{"tls_delivery", "https_delivery"}}},
	reflect.TypeOf(HTTPFilterConfig{}): {{Keys: []string{
		"header_filter", "path_filter", "method_filter", "header_filter_jq", "body_filter", "all_of", "any_of"}}},
	reflect.TypeOf(InnerFilter{}):   {{Keys: []string{"header", "path", "method", "header_jq", "body"}, One: true}},
	reflect.TypeOf(TrafficFilter{}): {{Keys: []string{"remote", "local"}, One: true}},
}

type exclusiveGroup struct {
	Keys []string
	One  bool
}

// largeReadonlyBuffer is where a warning starts; the 15 MiB hard limit is
// the field's maximum.
const largeReadonlyBuffer = 1 << 20

// verify checks the rules that span several keys. ide means the target is
// not final yet (an IDE will still let the user pick one).
func verify(c *Config, ide bool) (errs, warns []Issue) {
	errf := func(path, f string, a ...any) { errs = append(errs, Issue{Path: path, Msg: fmt.Sprintf(f, a...)}) }
	warnf := func(path, f string, a ...any) { warns = append(warns, Issue{Path: path, Msg: fmt.Sprintf(f, a...)}) }

	walkStructs(reflect.ValueOf(c).Elem(), "", func(v reflect.Value, path string) {
		for _, g := range exclusive[v.Type()] {
			set := setKeys(v, g.Keys)
			switch {
			case len(set) > 1:
				errf(joinKey(path, set[1]), "%s cannot be used together; %s", quoteKeys(set), exclusiveHint(v.Type()))
			case len(set) == 0 && g.One:
				errf(path, "exactly one of %s must be set", quoteKeys(g.Keys))
			}
		}
	})

	in := &c.Feature.Network.Incoming
	checkPairs(in.ListenPorts, "feature.network.incoming.listen_ports", errf)
	for i, p := range in.PortMapping {
		if p[0] == p[1] {
			warnf(fmt.Sprintf("feature.network.incoming.port_mapping[%d]", i), "maps port %d to itself, which has no effect", p[0])
		}
	}
	if f := c.Feature.Network.Outgoing.Filter; f != nil && len(f.Remote) > 0 && !c.Feature.Network.DNS.Enabled {
		warnf("feature.network.outgoing.filter.remote", "remote outgoing filters need remote DNS to resolve host names, but feature.network.dns is disabled")
	}

	if b := c.Feature.FS.ReadonlyFileBuffer; b > largeReadonlyBuffer {
		warnf("feature.fs.readonly_file_buffer", "%d bytes is above 1 MiB; large buffers use a lot of memory", b)
	}
	if r := c.StartupRetry; r.MinMS > r.MaxMS {
		errf("startup_retry.min_ms", "min_ms (%d) is larger than max_ms (%d)", r.MinMS, r.MaxMS)
	}
	for i, s := range c.Agent.ImagePullSecrets {
		if s["name"] == "" {
			warnf(fmt.Sprintf("agent.image_pull_secrets[%d]", i), "has no \"name\"; Kubernetes will ignore it")
		}
	}

	targetless := c.Target.Path != nil && c.Target.Path.Kind == KindTargetless || c.Target.Path == nil && !ide
	if targetless {
		if in.Mode == IncomingSteal {
			errf("feature.network.incoming.mode", "steal needs a target: a targetless session has no incoming traffic to steal; set target, or use mode \"mirror\" or \"off\"")
		}
		if c.Agent.Ephemeral {
			errf("agent.ephemeral", "an ephemeral agent runs inside its target's pod, so it needs a target")
		}
		if c.Feature.CopyTarget.Enabled {
			errf("feature.copy_target", "copy_target needs a target to copy")
		}
		if c.Agent.Namespace != "" {
			warnf("agent.namespace", "is ignored for a targetless session; set target.namespace to choose where the agent runs")
		}
	}
	if c.Agent.Ephemeral && c.Agent.Namespace != "" {
		warnf("agent.namespace", "is ignored with agent.ephemeral: the agent runs in the target's pod")
	}
	if c.Feature.CopyTarget.Enabled {
		if c.Operator != nil && !*c.Operator {
			errf("feature.copy_target", "copy_target needs the mirrord operator, but operator is false")
		}
		if p := c.Target.Path; p != nil && p.Kind == KindService {
			errf("feature.copy_target", "a service target cannot be copied; target its deployment instead")
		}
		if p := c.Target.Path; p != nil && p.Kind == KindLabel {
			errf("feature.copy_target", "a label target cannot be copied")
		}
		if in.Mode != IncomingSteal {
			warnf("feature.copy_target", "copy_target without steal mode: the copy gets no traffic of its own")
		}
	}
	return errs, warns
}

func exclusiveHint(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(HTTPFilterConfig{}):
		return "to combine filters, put them in any_of or all_of"
	case reflect.TypeOf(EnvConfig{}):
		return "include lists what to take, exclude what to leave out; use one"
	case reflect.TypeOf(IncomingConfig{}):
		return "use only one of them"
	}
	return "use only one of them"
}

func quoteKeys(keys []string) string {
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(k)
	}
	return strings.Join(q, " and ")
}

func setKeys(v reflect.Value, keys []string) []string {
	si := infoOf(v.Type())
	var set []string
	for _, k := range keys {
		if fi := si.byName[k]; fi != nil && !v.Field(fi.Index).IsZero() {
			set = append(set, k)
		}
	}
	return set
}

// walkStructs calls fn for every struct value in the config, with its path.
func walkStructs(v reflect.Value, path string, fn func(reflect.Value, string)) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			walkStructs(v.Elem(), path, fn)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			walkStructs(v.Index(i), fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case reflect.Struct:
		fn(v, path)
		for _, fi := range infoOf(v.Type()).Fields {
			walkStructs(v.Field(fi.Index), joinKey(path, fi.Name), fn)
		}
	}
}

func checkPairs(pairs []PortPair, path string, errf func(string, string, ...any)) {
	from, to := map[Port]int{}, map[Port]int{}
	for i, p := range pairs {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if j, dup := from[p[0]]; dup {
			errf(ip, "port %d is listed twice (also at [%d])", p[0], j)
		}
		if j, dup := to[p[1]]; dup {
			errf(ip, "target port %d is listed twice (also at [%d])", p[1], j)
		}
		from[p[0]], to[p[1]] = i, i
	}
}

// checkTrafficFilter validates `[proto://][host|ip|cidr][:port]`.
func checkTrafficFilter(s string) error {
	rest := s
	if proto, after, ok := strings.Cut(rest, "://"); ok {
		if proto != "tcp" && proto != "udp" {
			return fmt.Errorf("protocol must be tcp or udp")
		}
		rest = after
	}
	host, port := rest, ""
	if strings.HasPrefix(rest, "[") { // [v6]:port
		end := strings.Index(rest, "]")
		if end < 0 {
			return fmt.Errorf("unclosed '['")
		}
		host, port = rest[1:end], strings.TrimPrefix(rest[end+1:], ":")
	} else if i := strings.LastIndex(rest, ":"); i >= 0 && strings.Count(rest, ":") == 1 {
		host, port = rest[:i], rest[i+1:]
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("port %q is not a number from 0 to 65535", port)
		}
	}
	if host == "" {
		if port == "" {
			return fmt.Errorf("expected [tcp://|udp://][host|ip|cidr][:port]")
		}
		return nil
	}
	if strings.Contains(host, "/") {
		if _, _, err := net.ParseCIDR(host); err != nil {
			return fmt.Errorf("bad CIDR %q", host)
		}
		return nil
	}
	if net.ParseIP(host) != nil || nameRE.MatchString(strings.ToLower(host)) {
		return nil
	}
	return fmt.Errorf("%q is not a host name, IP address or CIDR", host)
}
