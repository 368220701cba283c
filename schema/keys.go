package schema

import (
	"reflect"
	"sort"
	"strings"
	"sync"
)

// keyIndex lists every key path of the config, built once from the types.
// It answers "where does this key belong?" for misplaced keys and drives the
// "not supported yet" warnings.
var keyIndex = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	var walk func(t reflect.Type, path string, depth int)
	walk = func(t reflect.Type, path string, depth int) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || depth > 8 {
			return
		}
		for _, f := range infoOf(t).Fields {
			p := joinKey(path, f.Name)
			out[f.Name] = append(out[f.Name], p)
			walk(f.Type, p, depth+1)
		}
	}
	walk(reflect.TypeOf(Config{}), "", 0)
	for _, paths := range out {
		sort.Strings(paths)
	}
	return out
})

// keyHome returns the path where a key name belongs, when it is unique.
func keyHome(name string) string {
	if paths := keyIndex()[name]; len(paths) == 1 {
		return paths[0]
	}
	return ""
}

// KeyPaths returns every key path of the config model, sorted.
func KeyPaths() []string {
	var out []string
	for _, paths := range keyIndex() {
		out = append(out, paths...)
	}
	sort.Strings(out)
	return out
}

// unsupported lists the keys this mirrord accepts but does not act on yet,
// with the reason given to the user. A key matches itself and its subkeys.
// Entries leave this list as their features land.
var unsupported = []struct{ Prefix, Why string }{
	{"operator", "the mirrord operator is not supported"},
	{"multi_cluster", "the mirrord operator is not supported"},
	{"profile", "operator profiles are not supported"},
	{"feature.copy_target", "copy_target needs the mirrord operator"},
	{"feature.split_queues", "queue splitting needs the mirrord operator"},
	{"feature.db_branches", "database branches need the mirrord operator"},
	{"feature.preview", "preview environments need the mirrord operator"},
	{"feature.network.incoming.on_concurrent_steal", "concurrent steal handling needs the mirrord operator"},
	{"feature.network.incoming.tls_delivery", "TLS delivery needs the mirrord operator"},
	{"feature.network.incoming.https_delivery", "TLS delivery needs the mirrord operator"},
	{"feature.magic", "magic fixes are not implemented"},
	{"feature.env.load_from_process", "env is always fetched before the process starts"},
	{"sip_binaries", "macOS is not supported"},
	{"skip_sip", "macOS is not supported"},
	{"experimental.sip_log_destination", "macOS is not supported"},
	{"experimental.applev", "macOS is not supported"},
	{"experimental.sip_utils", "macOS is not supported"},
	{"container", "mirrord container is not implemented"},
	{"external_proxy", "mirrord container is not implemented"},
	{"ci", "mirrord ci is not implemented"},
	{"telemetry", "this mirrord sends no telemetry"},
	{"traceparent", "operator tracing is not supported"},
	{"baggage", "operator tracing is not supported"},
	{"api", "the session monitor API is not implemented"},
	{"agent.metrics", "agent metrics are not implemented"},
	{"agent.inject_headers", "header injection is not implemented"},
	{"agent.jaq_time_limit", "jq filters are not implemented"},
	{"agent.exclude_from_mesh", "mesh exclusion is not implemented"},
	{"experimental", "experimental switches of upstream mirrord's libc layer do not apply"},
	{"internal_proxy", "this mirrord has no separate internal proxy process"},
	// Pending: features planned in open issues. Each issue removes its
	// entries when the feature lands.
	{"agent.external_ip_fix", "the capture redirects by port on every address, so no external-IP fix is needed"},
	{"agent.max_body_buffer_size", "body filters are not implemented"},
	{"agent.max_body_buffer_timeout", "body filters are not implemented"},
	{"agent.override_cache_control", "cache-control rewriting is not implemented"},
	{"feature.network.incoming.http_filter.header_filter_jq", "jq filters are not implemented"},
	{"feature.network.incoming.http_filter.body_filter", "body filters are not implemented"},
	{"startup_retry", pending},
	{"use_proxy", pending},
}

const (
	pending = "planned for a later version"
)

// unsupportedWhy returns the reason a key is not supported yet, or "".
func unsupportedWhy(path string) (prefix, why string) {
	for _, u := range unsupported {
		if path == u.Prefix || strings.HasPrefix(path, u.Prefix+".") || strings.HasPrefix(path, u.Prefix+"[") {
			return u.Prefix, u.Why
		}
	}
	return "", ""
}
