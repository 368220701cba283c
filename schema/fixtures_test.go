package schema

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/schema/internal/tree"
)

// The fixtures under testdata/ are upstream mirrord's documented configs
// (valid/, each written as .json, .toml and .yaml), configs the loader and
// the schema must both reject (invalid/, see mutations_test.go), and configs
// only the loader can reject (loader_only/, see mutations_test.go).

var fixtureFormats = []string{".json", ".toml", ".yaml"}

// fixtureBaseEnv is the environment a valid fixture needs to load at all.
// Every other test environment is empty: the tests never read the process
// environment.
var fixtureBaseEnv = map[string]map[string]string{
	"template_git_branch": {"MIRRORD_BRANCH_NAME": "feature/login"},
}

func fixtureEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// fixtureOptions gives an environment of m only, and a directory that is
// not a git checkout, so {{ git_branch }} comes from MIRRORD_BRANCH_NAME or
// is undefined.
func fixtureOptions(t *testing.T, m map[string]string) Options {
	return Options{Env: fixtureEnv(m), Dir: t.TempDir()}
}

func fixtureBase(path string) string {
	return strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
}

// fixtureFiles lists the files of a testdata directory.
func fixtureFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	return files
}

// validBases lists the base names of the valid fixtures and checks that
// each exists in every format.
func validBases(t *testing.T) []string {
	t.Helper()
	seen := map[string]map[string]bool{}
	for _, f := range fixtureFiles(t, "valid") {
		b := fixtureBase(f)
		if seen[b] == nil {
			seen[b] = map[string]bool{}
		}
		seen[b][filepath.Ext(f)] = true
	}
	var bases []string
	for b, exts := range seen {
		for _, ext := range fixtureFormats {
			if !exts[ext] {
				t.Errorf("valid fixture %s has no %s form", b, ext)
			}
		}
		if len(exts) != len(fixtureFormats) {
			t.Errorf("valid fixture %s: unexpected formats %v", b, exts)
		}
		bases = append(bases, b)
	}
	sort.Strings(bases)
	return bases
}

// parseFixture renders and parses a fixture as the loader does, without
// decoding it. Templated fixtures are rendered with the loader's own
// render(), so the schema sees exactly the document the decoder sees.
func parseFixture(path string, env map[string]string, dir string) (*tree.Node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	text := string(data)
	if hasTemplate(text) {
		out, is := render(text, "", fixtureEnv(env), dir)
		if is != nil {
			return nil, fmt.Errorf("%s", is.Msg)
		}
		text = out
	}
	return tree.Parse(format, []byte(text))
}

var generatedKeyRE = regexp.MustCompile(`^[0-9a-f]{5}$`)

// normalisedConfig is the resolved config as JSON, with a generated key
// replaced by a placeholder so that two loads compare equal.
func normalisedConfig(t *testing.T, path string, res *Result, root *tree.Node) string {
	t.Helper()
	cfg := *res.Config
	if root.Get("key") == nil {
		if !generatedKeyRE.MatchString(cfg.Key) {
			t.Errorf("%s: sets no key, but the key is %q rather than a generated one", path, cfg.Key)
		}
		cfg.Key = "<generated>"
	}
	b, err := json.MarshalIndent(&cfg, "", "  ")
	if err != nil {
		t.Fatalf("%s: marshal: %v", path, err)
	}
	return string(b)
}

func TestValidFixturesLoad(t *testing.T) {
	bases := validBases(t)
	if len(bases) < 60 {
		t.Errorf("only %d valid fixtures", len(bases))
	}
	for _, b := range bases {
		for _, ext := range fixtureFormats {
			path := filepath.Join("testdata", "valid", b+ext)
			t.Run(b+ext, func(t *testing.T) {
				for _, schemaCheck := range []bool{false, true} {
					opts := fixtureOptions(t, fixtureBaseEnv[b])
					opts.SchemaCheck = schemaCheck // verify-config's setting
					res := Load(path, opts)
					for _, e := range res.Errors {
						t.Errorf("SchemaCheck=%v: %s", schemaCheck, e)
					}
				}
			})
		}
	}
}

// TestValidFixturesFormatsAgree: the .json, .toml and .yaml form of each
// fixture resolve to the same config and the same warnings.
func TestValidFixturesFormatsAgree(t *testing.T) {
	for _, b := range validBases(t) {
		t.Run(b, func(t *testing.T) {
			var first, firstWarn, firstPath string
			for _, ext := range fixtureFormats {
				path := filepath.Join("testdata", "valid", b+ext)
				env := fixtureBaseEnv[b]
				opts := fixtureOptions(t, env)
				res := Load(path, opts)
				if len(res.Errors) > 0 {
					t.Fatalf("%s: %v", path, res.Errors)
				}
				root, err := parseFixture(path, env, opts.Dir)
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				got := normalisedConfig(t, path, res, root)
				var warns []string
				for _, w := range res.Warnings {
					warns = append(warns, w.Path+": "+w.Msg)
				}
				sort.Strings(warns)
				gotWarn := strings.Join(warns, "\n")
				if first == "" {
					first, firstWarn, firstPath = got, gotWarn, path
					continue
				}
				if got != first {
					t.Errorf("%s and %s resolve differently:\n%s", firstPath, path, firstDiff(first, got))
				}
				if gotWarn != firstWarn {
					t.Errorf("%s and %s warn differently:\n%s\n---\n%s", firstPath, path, firstWarn, gotWarn)
				}
			}
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n- %s\n+ %s", i+1, x, y)
		}
	}
	return "(equal)"
}

type resolveCase struct {
	env map[string]string // nil: fixtureBaseEnv of the fixture
	// want maps a key path of the resolved config (its JSON form, as
	// `verify-config --resolved` prints it) to the expected value. Pseudo
	// paths: "@target" is the target string ("" when unset), "@path" and
	// "@namespace" are verify-config's config.path and config.namespace,
	// "@warning" is a substring one of the warnings must contain.
	want map[string]any
}

type obj2 = map[string]any
type list = []any

// resolveCases checks a few resolved values of every valid fixture, in all
// three formats. Every valid fixture must have an entry.
var resolveCases = map[string][]resolveCase{
	"agent": {{want: obj2{
		"@target": "deployment/bear-deploy", "agent.ttl": 30, "agent.startup_timeout": 360,
		"agent.communication_timeout": 30, "agent.labels": obj2{"user": "meow"},
		"agent.image":              obj2{"registry": "ghcr.io/metalbear-co/mirrord", "tag": "latest"},
		"agent.image_pull_secrets": list{obj2{"secret-key": "secret"}},
		"@warning":                 `has no "name"`,
	}}},
	"agent_annotations": {{want: obj2{
		"@path": nil, "@target": "",
		"agent.annotations": obj2{"cats.io/inject": "enabled", "prometheus.io/scrape": "true", "prometheus.io/port": "9000"},
	}}},
	"agent_dns":       {{want: obj2{"agent.dns": obj2{"timeout": 1, "attempts": 2}}}},
	"agent_ephemeral": {{want: obj2{"agent.ephemeral": true, "@path": obj2{"pod": "bear-pod", "container": nil}}}},
	"agent_image_object": {{want: obj2{
		"agent.image": obj2{"registry": "internal.repo/images/mirrord", "tag": "latest"},
	}}},
	"agent_image_pull_secrets": {{want: obj2{
		"agent.image_pull_policy":  "Always",
		"agent.image_pull_secrets": list{obj2{"name": "secret-key-1"}, obj2{"name": "secret-key-2"}},
	}}},
	// The string form splits into the same registry and tag as the object form.
	"agent_image_string": {{want: obj2{
		"agent.image": obj2{"registry": "internal.repo/images/mirrord", "tag": "latest"},
	}}},
	"agent_labels":  {{want: obj2{"agent.labels": obj2{"user": "meow", "state": "asleep"}}}},
	"agent_metrics": {{want: obj2{"agent.metrics": "0.0.0.0:9000", "agent.annotations": obj2{"prometheus.io/scrape": "true", "prometheus.io/port": "9000"}}}},
	"agent_misc": {{want: obj2{
		"agent.disabled_capabilities": list{"SYS_PTRACE", "NET_RAW"}, "agent.privileged": true,
		"agent.nftables": true, "agent.check_out_of_pods": false, "agent.max_body_buffer_size": 131072,
		"agent.http_detection_timeout": 10, "agent.clean_iptables_on_start": true,
	}}},
	"agent_node_selector": {{want: obj2{
		"agent.node_selector":   obj2{"app": "mirrord", "custom": "nodeSelector"},
		"agent.priority_class":  "my-priority-class-name",
		"agent.service_account": "my-service-account",
	}}},
	// Given resources replace the default requests and limits as a whole.
	"agent_resources": {{want: obj2{"agent.resources": obj2{
		"requests": obj2{"cpu": "1m", "memory": "1Mi"},
		"limits":   obj2{"cpu": "100m", "memory": "100Mi"},
	}}}},
	"agent_security_context": {{want: obj2{
		"agent.security_context.app_armor_profile":    obj2{"type": "Localhost", "localhost_profile": "mirrord-agent"},
		"agent.security_context.seccomp_profile.type": "RuntimeDefault",
	}}},
	"agent_tolerations": {{want: obj2{"agent.tolerations": list{
		obj2{"key": "meow", "operator": "Exists", "effect": "NoSchedule"},
		obj2{"key": "dedicated", "operator": "Equal", "value": "mirrord", "effect": "NoExecute", "tolerationSeconds": 3600},
	}}}},
	"ci": {{want: obj2{"ci.output_dir": "/tmp/mirrord/"}}},
	"complete": {{want: obj2{
		"@target": "pod/bear-pod", "@namespace": "default", "@path": obj2{"pod": "bear-pod", "container": nil},
		"accept_invalid_certificates": false, "skip_processes": list{"ide-debugger"}, "operator": true,
		"agent.ttl": 30, "agent.namespace": "default", "agent.metrics": "0.0.0.0:9000",
		"feature.env.include":                   list{"DATABASE_USER;PUBLIC_ENV"},
		"feature.env.mapping":                   obj2{".+_TIMEOUT": "1000"},
		"feature.fs.mode":                       "write",
		"feature.fs.read_write":                 list{`.+\.json`},
		"feature.network.incoming.mode":         "steal",
		"feature.network.incoming.port_mapping": list{list{7777, 8888}},
		"feature.network.incoming.ignore_ports": list{9999, 10000},
		"feature.network.incoming.http_filter":  obj2{"header_filter": `host: api\..+`},
		"feature.network.outgoing.filter":       obj2{"local": list{"tcp://1.1.1.0/24:1337", "1.1.5.0/24", "google.com", ":53"}},
		"feature.network.outgoing.unix_streams": list{"bear.+"},
		"feature.network.dns.filter.local":      list{"1.1.1.0/24:1337", "1.1.5.0/24", "google.com"},
		"feature.copy_target":                   obj2{"enabled": true, "scale_down": false},
		"kubeconfig":                            "~/.kube/config", "sip_binaries": list{"bash"}, "kube_context": "my-cluster",
	}}},
	"container": {{want: obj2{
		"container.cli_image": "internal.repo/images/mirrord-cli:latest", "container.cli_extra_args": list{"--network", "host"},
		"container.override_host_ip": "172.17.0.1", "container.platform": "linux/amd64", "container.host_gateway_detection": false,
	}}},
	"copy_target_object": {{want: obj2{"feature.copy_target": obj2{
		"enabled": true, "scale_down": true, "exclude_containers": list{"my-sidecar"}, "exclude_init_containers": list{"my-init"},
	}}}},
	"copy_target_true": {{want: obj2{"feature.copy_target": obj2{"enabled": true, "scale_down": false}, "feature.network.incoming.mode": "steal"}}},
	"db_branches": {{want: obj2{"feature.db_branches": list{obj2{
		"type": "mysql", "version": "8.0", "name": "my-database-name", "ttl_secs": 120,
		"connection": obj2{"url": obj2{"type": "env", "variable": "DB_CONNECTION_URL"}},
	}}}}},
	"dns_false":         {{want: obj2{"feature.network.dns.enabled": false, "feature.network.outgoing.tcp": true}}},
	"dns_filter":        {{want: obj2{"feature.network.dns": obj2{"enabled": true, "filter": obj2{"local": list{"1.1.1.0/24:1337", "1.1.5.0/24", "google.com"}}}}}},
	"dns_filter_remote": {{want: obj2{"feature.network.dns": obj2{"enabled": true, "filter": obj2{"remote": list{"my-service.my-namespace.svc.cluster.local"}}}}}},
	// A `;`-separated string is kept as written, one element; the env
	// feature splits it, as upstream does.
	"env_exclude": {{want: obj2{
		"feature.env.exclude":  list{"DATABASE_PASSWORD;SECRET_ENV"},
		"feature.env.include":  nil,
		"feature.env.override": obj2{"DATABASE_CONNECTION": "db://localhost:7777/my-db", "LOCAL_BEAR": "panda"},
	}}},
	"env_false": {{want: obj2{"feature.env": obj2{"exclude": list{"*"}}}}},
	"env_file": {{want: obj2{
		"feature.env.env_file": "path/to/some/.env", "feature.env.unset": list{"AWS_PROFILE", "AWS_REGION"},
		"feature.env.load_from_process": true,
	}}},
	"env_include": {{want: obj2{
		"feature.env.include": list{"DATABASE_USER;PUBLIC_ENV;MY_APP_*"}, "feature.env.exclude": nil,
		"feature.env.mapping": obj2{".+_TIMEOUT": "1000"},
	}}},
	"env_list_forms": {{want: obj2{"feature.env.include": list{"DATABASE_USER", "PUBLIC_ENV"}, "feature.env.unset": list{"AWS_PROFILE"}}}},
	"env_mapping": {{want: obj2{"feature.env.mapping": obj2{
		".+_TIMEOUT": "10000", "LOG_.+_VERBOSITY": "debug", `(\w+)_(\d+)`: "magic-value", "(?P<service>[A-Z]+)_HOST": "${service}.localhost",
	}}}},
	"env_true": {{want: obj2{"feature.env": obj2{}}}},
	"experimental": {{want: obj2{
		"experimental.hide_ipv6_interfaces": true, "experimental.disable_reuseaddr": false,
		"experimental.idle_local_http_connection_timeout": 5000, "experimental.latency": obj2{"transmit_delay": 10, "receive_delay": 20},
	}}},
	"external_proxy":         {{want: obj2{"external_proxy.tls_enable": false, "external_proxy.host_ip": "0.0.0.0", "external_proxy.log_destination": "/tmp/mirrord-extproxy.log"}}},
	"feature_hostname_magic": {{want: obj2{"feature.hostname": false, "feature.magic": obj2{"aws": false, "auto_mount": false, "turbo": true}}}},
	"fs_false":               {{want: obj2{"feature.fs.mode": "local"}}},
	"fs_localwithoverrides": {{want: obj2{
		"feature.fs.mode": "localwithoverrides", "feature.fs.read_only": list{`^/etc/resolv\.conf$`}, "feature.fs.read_write": list{"^/tmp/shared/.*"},
	}}},
	"fs_mapping": {{want: obj2{"feature.fs.mapping": obj2{"/home/user/project/(.+)": "/app/$1", "^/var/log/(?P<file>.*)$": "/tmp/logs/${file}"}}}},
	"fs_object": {{want: obj2{"feature.fs": obj2{
		"mode": "write", "read_write": list{`.+\.json`}, "read_only": list{`.+\.yaml`, `.+important-file\.txt`},
		"local": list{`.+\.js`, `.+\.mjs`}, "not_found": list{`\.config/gcloud`}, "readonly_file_buffer": 128000,
	}}}},
	"fs_read":                 {{want: obj2{"feature.fs": obj2{"mode": "read", "readonly_file_buffer": 128000}}}},
	"fs_readonly_file_buffer": {{want: obj2{"feature.fs.readonly_file_buffer": 15728640, "@warning": "above 1 MiB"}}},
	"http_all_of": {{want: obj2{"feature.network.incoming.http_filter.all_of": list{
		obj2{"header": "x-user: my-user$"}, obj2{"path": "/api/v1/.*"}, obj2{"method": "GET"},
	}}}},
	"http_any_of": {{want: obj2{
		"feature.network.incoming.http_filter.any_of[1].header":    "^x-debug-session: 121212$",
		"feature.network.incoming.http_filter.any_of[2].header_jq": `.["x-user"] == "my-user"`,
		"feature.network.incoming.http_filter.any_of[3].body":      obj2{"body": "json", "query": "$.user.name", "matches": "^my-user$"},
	}}},
	"http_body_filter": {{want: obj2{"feature.network.incoming.http_filter": obj2{
		"body_filter": obj2{"body": "json", "query": "$.library.books[*].title", "matches": "^1984$"},
	}}}},
	"http_filter_false":     {{want: obj2{"feature.network.incoming.http_filter": obj2{}, "feature.network.incoming.mode": "steal"}}},
	"http_header_filter":    {{want: obj2{"feature.network.incoming.http_filter": obj2{"header_filter": "^x-debug-session: 121212$"}}}},
	"http_header_filter_jq": {{want: obj2{"feature.network.incoming.http_filter.header_filter_jq": `.["x-user"] | ascii_downcase | startswith("bear")`, "agent.jaq_time_limit": 200}}},
	"http_header_lookahead": {{want: obj2{"feature.network.incoming.http_filter": obj2{"header_filter": "^User-Agent: (?!kube-probe)"}}}},
	"http_method_filter":    {{want: obj2{"feature.network.incoming.http_filter": obj2{"method_filter": "POST", "ports": list{8080}}}}},
	"http_path_filter":      {{want: obj2{"feature.network.incoming.http_filter": obj2{"path_filter": "^/api/v1/.*", "ports": list{80, 8080}}}}},
	"https_delivery":        {{want: obj2{"feature.network.incoming.https_delivery": obj2{"protocol": "tcp"}, "feature.network.incoming.tls_delivery": nil}}},
	"incoming_complete": {{want: obj2{
		"feature.network.incoming.mode": "steal", "feature.network.incoming.listen_ports": list{list{80, 8111}},
		"feature.network.incoming.port_mapping": list{list{7777, 8888}}, "feature.network.incoming.ignore_ports": list{9999, 10000},
	}}},
	"incoming_false": {{want: obj2{"feature.network.incoming.mode": "off", "feature.network.ipv6": false, "feature.network.outgoing.tcp": true}}},
	"incoming_off":   {{want: obj2{"feature.network.incoming.mode": "off"}}},
	"incoming_operator": {{want: obj2{
		"feature.network.incoming.on_concurrent_steal": "override",
		"feature.network.incoming.tls_delivery": obj2{
			"protocol": "tls", "trust_roots": list{"/path/to/cert.pem"}, "server_name": "my.server.name", "server_cert": "/path/to/server.pem",
		},
	}}},
	"incoming_ports": {{want: obj2{
		"feature.network.incoming.mode": "mirror", "feature.network.incoming.ports": list{80, 8080},
		"feature.network.incoming.listen_ports": list{list{80, 8111}, list{443, 8443}},
	}}},
	"incoming_steal_short": {{want: obj2{"feature.network.incoming.mode": "steal", "@target": "deployment/bear-deploy", "@path": obj2{"deployment": "bear-deploy", "container": nil}}}},
	"internal_proxy": {{want: obj2{
		"internal_proxy.start_idle_timeout": 30, "internal_proxy.log_level": "mirrord=debug,warn",
		"internal_proxy.json_log": false, "internal_proxy.log_destination": "/tmp/mirrord-intproxy.log",
	}}},
	"network": {{want: obj2{
		"feature.network.incoming.mode": "steal", "feature.network.dns.enabled": false,
		"feature.network.outgoing.filter.local": list{"tcp://1.1.1.0/24:1337", "1.1.5.0/24", "google.com", ":53"},
	}}},
	"network_false": {{want: obj2{
		"feature.network.incoming.mode": "off", "feature.network.outgoing.tcp": false,
		"feature.network.outgoing.udp": false, "feature.network.dns.enabled": false,
	}}},
	"outgoing_false": {{want: obj2{"feature.network.outgoing.tcp": false, "feature.network.outgoing.udp": false, "feature.network.dns.enabled": true}}},
	"outgoing_local": {{want: obj2{"feature.network.outgoing": obj2{
		"tcp": true, "udp": false, "ignore_localhost": true,
		"filter":       obj2{"local": list{"udp://[::1]:53", "10.0.0.0/8", "localhost:8080", "tcp://db.internal"}},
		"unix_streams": list{"bear.+", `/var/run/docker\.sock`},
	}}}},
	"outgoing_remote": {{want: obj2{"feature.network.outgoing.filter": obj2{"remote": list{"tcp://1.1.1.0/24:1337", "1.1.5.0/24", "google.com", ":53"}}}}},
	"port_mapping":    {{want: obj2{"feature.network.incoming.port_mapping": list{list{7777, 8888}, list{9999, 80}}, "feature.network.incoming.mode": "mirror"}}},
	"preview": {{want: obj2{"feature.preview": obj2{
		"image": "my-registry/my-app:pr-42", "ttl_mins": 120, "creation_timeout_secs": 60, "replicas": 1,
		"labels": obj2{"include": list{"app", "tier"}},
		"idle":   obj2{"start_idle": false, "sleep_after_secs": 600, "wake_timeout_secs": 90},
	}}}},
	"preview_infinite": {{want: obj2{"feature.preview": obj2{"ttl_secs": "infinite"}}}},
	"root_keys": {{want: obj2{
		"@target": "targetless", "@path": "targetless",
		"accept_invalid_certificates": true, "skip_processes": list{"ide-debugger", "bash"}, "skip_build_tools": false,
		"skip_extra_build_tools": list{"bazel", "buck2"}, "operator": false, "multi_cluster": false, "api": false,
		"profile": "my-namespace/my-profile", "kubeconfig": "~/.kube/config:~/.kube/other", "skip_sip": list{"git", "ls"},
		"telemetry": false, "use_proxy": false, "key": "my-session",
		"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "baggage": "userId=alice,serverNode=DF%2028",
	}}},
	"split_queues": {{want: obj2{
		"feature.split_queues.first-queue":            obj2{"queue_type": "SQS", "message_filter": obj2{"wows": "so wows", "coolz": "^very"}},
		"feature.split_queues.third-queue.queue_type": "Kafka",
	}}},
	"startup_retry":        {{want: obj2{"startup_retry": obj2{"min_ms": 500, "max_ms": 5000, "max_retries": 2}}}},
	"target_deploy_alias":  {{want: obj2{"@target": "deployment/bear-deploy/container/bear-container", "@path": obj2{"deployment": "bear-deploy", "container": "bear-container"}}}},
	"target_kinds_strings": {{want: obj2{"@target": "statefulset/bear-set", "@namespace": "bear-namespace", "@path": obj2{"stateful_set": "bear-set", "container": nil}}}},
	"target_label_string": {{want: obj2{
		"@target": "label/app=bear,tier=backend", "@path": obj2{"labels": obj2{"app": "bear", "tier": "backend"}, "container": nil},
	}}},
	// The object form resolves to the same target as the string form.
	"target_labels": {{want: obj2{
		"@target": "label/app=bear,tier=backend", "@path": obj2{"labels": obj2{"app": "bear", "tier": "backend"}, "container": nil},
	}}},
	"target_namespace_only": {{want: obj2{"@target": "", "@path": nil, "@namespace": "bear-namespace"}}},
	"target_object_kinds":   {{want: obj2{"@target": "cronjob/bear-cron", "@namespace": "jobs", "@path": obj2{"cron_job": "bear-cron", "container": nil}}}},
	"target_object_short": {{want: obj2{
		"@target": "rollout/bear-rollout/container/bear-container", "@namespace": nil,
		"@path": obj2{"rollout": "bear-rollout", "container": "bear-container"},
	}}},
	"target_path_object":           {{want: obj2{"@target": "pod/bear-pod", "@namespace": "default", "@path": obj2{"pod": "bear-pod", "container": nil}}}},
	"target_path_object_container": {{want: obj2{"@target": "deployment/bear-deploy/container/bear-container", "@namespace": nil}}},
	"target_pod":                   {{want: obj2{"@target": "pod/bear-pod", "@path": obj2{"pod": "bear-pod", "container": nil}, "@namespace": nil}}},
	"target_pod_container":         {{want: obj2{"@target": "pod/bear-pod/container/bear-pod-container", "@path": obj2{"pod": "bear-pod", "container": "bear-pod-container"}}}},
	"target_targetless":            {{want: obj2{"@target": "targetless", "@path": "targetless"}}},
	"template_default": {
		{env: map[string]string{}, want: obj2{
			"key": "no-branch", "@target": "deployment/bear-deploy", "@namespace": "staging", "agent.log_level": "info",
		}},
		{env: map[string]string{"MIRRORD_BRANCH_NAME": "feature-x", "TARGET": "pod/other", "NAMESPACE": "prod", "AGENT_LOG": "DEBUG"}, want: obj2{
			"key": "feature-x", "@target": "pod/other", "@namespace": "prod", "agent.log_level": "debug",
		}},
	},
	"template_get_env": {
		{env: map[string]string{}, want: obj2{
			"@target": "pod/fallback", "@path": obj2{"pod": "fallback", "container": nil},
			"feature.fs.mode": "write", "feature.env": obj2{},
		}},
		{env: map[string]string{"TARGET": "deployment/web"}, want: obj2{
			"@target": "deployment/web", "@path": obj2{"deployment": "web", "container": nil}, "feature.fs.mode": "write",
		}},
	},
	"template_git_branch": {
		{want: obj2{
			"key": "feature/login", "@target": "deployment/bear-deploy",
			"feature.network.incoming.http_filter.header_filter": "^x-mirrord-branch: feature/login$",
		}},
		{env: map[string]string{"MIRRORD_BRANCH_NAME": "main", "MIRRORD_KEY": "explicit"}, want: obj2{
			"key": "explicit", "feature.network.incoming.http_filter.header_filter": "^x-mirrord-branch: main$",
		}},
	},
}

// resolvedAt returns the value at a key path of the resolved config, or a
// pseudo path's value (see resolveCase).
func resolvedAt(t *testing.T, res *Result, path string) (any, bool) {
	t.Helper()
	cfg := res.Config
	switch path {
	case "@target":
		return cfg.Target.Path.String(), true
	case "@path":
		if cfg.Target.Path == nil {
			return nil, true
		}
		return viaJSON(t, cfg.Target.Path), true
	case "@namespace":
		if cfg.Target.Namespace == "" {
			return nil, true
		}
		return cfg.Target.Namespace, true
	}
	cur := viaJSON(t, cfg)
	for _, seg := range tree.SplitPath(path) {
		if i, ok := seg.Index(); ok {
			l, isList := cur.([]any)
			if !isList || i >= len(l) {
				return nil, false
			}
			cur = l[i]
			continue
		}
		m, isMap := cur.(map[string]any)
		if !isMap {
			return nil, false
		}
		v, present := m[seg.Key]
		if !present {
			return nil, false
		}
		cur = v
	}
	return cur, true
}

func viaJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

func canonicalJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}

func TestValidFixturesResolve(t *testing.T) {
	bases := validBases(t)
	for _, b := range bases {
		if len(resolveCases[b]) == 0 {
			t.Errorf("valid fixture %s has no entry in resolveCases", b)
		}
	}
	for b := range resolveCases {
		if !contains(bases, b) {
			t.Errorf("resolveCases names %s, which is not a valid fixture", b)
		}
	}
	for _, b := range bases {
		for ci, c := range resolveCases[b] {
			for _, ext := range fixtureFormats {
				path := filepath.Join("testdata", "valid", b+ext)
				t.Run(fmt.Sprintf("%s%s#%d", b, ext, ci), func(t *testing.T) {
					env := c.env
					if env == nil {
						env = fixtureBaseEnv[b]
					}
					opts := fixtureOptions(t, env)
					opts.SchemaCheck = true
					res := Load(path, opts)
					if len(res.Errors) > 0 {
						t.Fatalf("errors: %v", res.Errors)
					}
					keys := make([]string, 0, len(c.want))
					for k := range c.want {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						want := c.want[k]
						if k == "@warning" {
							var all []string
							for _, w := range res.Warnings {
								all = append(all, w.String())
							}
							if !strings.Contains(strings.Join(all, "\n"), want.(string)) {
								t.Errorf("no warning contains %q; warnings:\n%s", want, strings.Join(all, "\n"))
							}
							continue
						}
						got, found := resolvedAt(t, res, k)
						if !found && want != nil {
							t.Errorf("%s: not in the resolved config, want %s", k, canonicalJSON(t, want))
							continue
						}
						if g, w := canonicalJSON(t, got), canonicalJSON(t, want); g != w {
							t.Errorf("%s = %s, want %s", k, g, w)
						}
					}
				})
			}
		}
	}
}

// TestTemplateTeraSemantics pins the Tera behaviours the templated
// fixtures rely on, which differ from Liquid's: bare argument-less filters,
// default only for an undefined value, and an undefined variable being an
// error.
func TestTemplateTeraSemantics(t *testing.T) {
	env := fixtureEnv(map[string]string{"EMPTY": "", "LOUD": "DEBUG"})
	dir := t.TempDir()
	for _, tt := range []struct{ in, want string }{
		{`{{ get_env(name="LOUD") | lower }}`, "debug"},
		{`{{ get_env(name="LOUD") | lower() }}`, "debug"},
		{`{{ get_env(name="EMPTY", default="x") | upper }}`, ""},
		{`{{ get_env(name="NOPE", default="info") | upper }}`, "INFO"},
		{`{{ get_env(name="EMPTY") | default(value="d") }}`, ""},
		{`{{ false | default(value=true) }}`, "false"},
		{`{{ git_branch | default(value='main') }}`, "main"},
		{`{% if git_branch %}set{% else %}unset{% endif %}`, "unset"},
	} {
		got, is := render(tt.in, "k", env, dir)
		if is != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.in, got, is, tt.want)
		}
	}
	for _, tt := range []struct {
		in   string
		line int
		msg  string
	}{
		{"{\n  \"key\": \"{{ git_branch }}\"\n}", 2, "undefined variable"},
		{"a\nb\n{{ nope(x=1) }}", 3, `unknown template function "nope"`},
		{"a\n{{ get_env(name=\"NOPE\") }}", 2, "NOPE is not set"},
	} {
		_, is := render(tt.in, "k", env, dir)
		if is == nil || is.Pos.Line != tt.line || !strings.Contains(is.Msg, tt.msg) {
			t.Errorf("%q: got %+v, want line %d and %q", tt.in, is, tt.line, tt.msg)
		}
	}
}

// TestResolvedConfigIsFileShaped: `verify-config --resolved` prints the
// resolved config in the file's shape, and children get it as JSON; read
// back as a config file, it must resolve to itself.
func TestResolvedConfigIsFileShaped(t *testing.T) {
	for _, b := range validBases(t) {
		path := filepath.Join("testdata", "valid", b+".json")
		t.Run(b, func(t *testing.T) {
			opts := fixtureOptions(t, fixtureBaseEnv[b])
			res := Load(path, opts)
			if len(res.Errors) > 0 {
				t.Fatalf("%v", res.Errors)
			}
			data, err := json.MarshalIndent(res.Config, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			again := LoadBytes("resolved.json", data, fixtureOptions(t, nil))
			if len(again.Errors) > 0 {
				t.Fatalf("the resolved config does not load: %v\n%s", again.Errors, data)
			}
			data2, _ := json.MarshalIndent(again.Config, "", "  ")
			if string(data) != string(data2) {
				t.Errorf("the resolved config resolves differently:\n%s", firstDiff(string(data), string(data2)))
			}
			var back Config
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			data3, _ := json.MarshalIndent(&back, "", "  ")
			if string(data) != string(data3) {
				t.Errorf("json round trip differs:\n%s", firstDiff(string(data), string(data3)))
			}
		})
	}
}
