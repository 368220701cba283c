package schema

import (
	"os"
	"strings"
	"testing"
)

// noEnv is an empty environment, so tests never depend on the real one.
func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEveryEnvOverrideApplies(t *testing.T) {
	values := map[string]string{}
	for _, o := range envOverrides {
		n, err := o.Conv("true")
		switch {
		case err == nil && n != nil && n.Kind == 1: // bool
			values[o.Env] = "true"
		default:
			values[o.Env] = ""
		}
	}
	for _, o := range envOverrides {
		t.Run(o.Env, func(t *testing.T) {
			if _, _, ok := fieldByPath(reflectConfig(), o.Path); !ok {
				t.Fatalf("override %s names unknown key %s", o.Env, o.Path)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags map[string]Flag
		check func(*Config) bool
	}{
		{"target from env", `{}`, map[string]string{"MIRRORD_IMPERSONATED_TARGET": "deploy/web"}, nil,
			func(c *Config) bool { return c.Target.Path.String() == "deployment/web" }},
		{"env beats file", `{"target": "pod/a"}`, map[string]string{"MIRRORD_IMPERSONATED_TARGET": "pod/b"}, nil,
			func(c *Config) bool { return c.Target.Path.Name == "b" }},
		{"flag beats env", `{"agent": {"ttl": 3}}`, map[string]string{"MIRRORD_AGENT_TTL": "5"}, map[string]Flag{"MIRRORD_AGENT_TTL": {"--agent-ttl", "9"}},
			func(c *Config) bool { return c.Agent.TTL == 9 }},
		{"file beats default", `{"agent": {"ttl": 3}}`, nil, nil,
			func(c *Config) bool { return c.Agent.TTL == 3 }},
		{"steal true", `{}`, map[string]string{"MIRRORD_AGENT_TCP_STEAL_TRAFFIC": "true", "MIRRORD_IMPERSONATED_TARGET": "pod/x"}, nil,
			func(c *Config) bool { return c.Feature.Network.Incoming.Mode == IncomingSteal }},
		{"steal false means off", `{}`, map[string]string{"MIRRORD_AGENT_TCP_STEAL_TRAFFIC": "false"}, nil,
			func(c *Config) bool { return c.Feature.Network.Incoming.Mode == IncomingOff }},
		{"skip processes list", `{}`, map[string]string{"MIRRORD_SKIP_PROCESSES": "a;b"}, nil,
			func(c *Config) bool { return strings.Join(c.SkipProcesses, ",") == "a,b" }},
		{"image beats registry and tag", `{}`, map[string]string{"MIRRORD_AGENT_IMAGE": "r/a:1", "MIRRORD_AGENT_IMAGE_TAG": "2"}, nil,
			func(c *Config) bool { return c.Agent.Image.Ref("x") == "r/a:1" }},
		{"env false still honours env vars", `{"feature": {"env": false}}`, nil, nil,
			func(c *Config) bool { return strings.Join(c.Feature.Env.Exclude, "") == "*" }},
		{"namespace", `{}`, map[string]string{"MIRRORD_TARGET_NAMESPACE": "ns1"}, nil,
			func(c *Config) bool { return c.Target.Namespace == "ns1" }},
		{"fs legacy ops", `{}`, map[string]string{"MIRRORD_FILE_OPS": "true"}, nil,
			func(c *Config) bool { return c.Feature.FS.Mode == FSWrite }},
		{"http filter ports", `{}`, map[string]string{"MIRRORD_HTTP_FILTER_PORTS": "80,8080"}, nil,
			func(c *Config) bool { return len(c.Feature.Network.Incoming.HTTPFilter.Ports) == 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := LoadBytes("c.json", []byte(tt.file), Options{Env: envOf(tt.env), Flags: tt.flags})
			if len(r.Errors) > 0 {
				t.Fatalf("errors: %v", r.Errors)
			}
			if !tt.check(r.Config) {
				t.Fatalf("unexpected config: %+v", r.Config)
			}
		})
	}
}

func TestOverrideErrorsNameTheirSource(t *testing.T) {
	tests := []struct {
		env   map[string]string
		flags map[string]Flag
		want  string
	}{
		{map[string]string{"MIRRORD_AGENT_TTL": "abc"}, nil, "environment variable MIRRORD_AGENT_TTL: agent.ttl: expected an integer"},
		{nil, map[string]Flag{"MIRRORD_FILE_MODE": {"--fs-mode", "rw"}}, `flag --fs-mode: feature.fs.mode: invalid value "rw"`},
		{map[string]string{"MIRRORD_IMPERSONATED_TARGET": "pods/x"}, nil, `did you mean "pod"?`},
	}
	for _, tt := range tests {
		r := LoadBytes("", nil, Options{Env: envOf(tt.env), Flags: tt.flags})
		if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].String(), tt.want) {
			t.Errorf("want error containing %q, got %v", tt.want, r.Errors)
		}
	}
}

func TestFormatByExtension(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"a.json", `{"agent": {"ttl": 7}}`, ""},
		{"a", `{"agent": {"ttl": 7}}`, ""},
		{"a.toml", "[agent]\nttl = 7\n", ""},
		{"a.yaml", "agent:\n  ttl: 7\n", ""},
		{"a.yml", "agent:\n  ttl: 7\n", ""},
		{"a.ini", "x", "unsupported config file extension"},
	} {
		r := LoadBytes(tt.name, []byte(tt.data), Options{Env: noEnv})
		if tt.want == "" {
			if len(r.Errors) > 0 || r.Config.Agent.TTL != 7 {
				t.Errorf("%s: %v ttl=%d", tt.name, r.Errors, r.Config.Agent.TTL)
			}
		} else if len(r.Errors) == 0 || !strings.Contains(r.Errors[0].Msg, tt.want) {
			t.Errorf("%s: want %q, got %v", tt.name, tt.want, r.Errors)
		}
	}
}

func TestTemplates(t *testing.T) {
	env := envOf(map[string]string{"TARGET": "deploy/x", "MIRRORD_BRANCH_NAME": "feat-1"})
	tests := []struct{ in, want string }{
		{`{{ get_env(name="TARGET", default="pod/fallback") }}`, "deploy/x"},
		{`{{ get_env(name="NOPE", default="pod/fallback") }}`, "pod/fallback"},
		{`{{ get_env(name='TARGET') }}`, "deploy/x"},
		{`{{ git_branch }}`, "feat-1"},
		{`{{ nothing | default(value="d") }}`, "d"},
		{`{# a comment #}x`, "x"},
		{`{% if git_branch == "feat-1" %}yes{% endif %}`, "yes"},
	}
	for _, tt := range tests {
		got, is := render(tt.in, "k", env, "")
		if is != nil || got != tt.want {
			t.Errorf("%s: got %q, %v; want %q", tt.in, got, is, tt.want)
		}
	}
	if _, is := render(`{{ get_env(name="NOPE") }}`, "k", env, ""); is == nil || !strings.Contains(is.Msg, `NOPE is not set`) {
		t.Errorf("missing env without default: %v", is)
	}
}

func TestLoadMissingFile(t *testing.T) {
	r := Load("/nonexistent/mirrord.json", Options{Env: noEnv})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].String(), "/nonexistent/mirrord.json: config file not found") {
		t.Fatalf("got %v", r.Errors)
	}
	dir := t.TempDir()
	r = Load(dir, Options{Env: noEnv})
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Msg, "directory") {
		t.Fatalf("got %v", r.Errors)
	}
}

func TestSchemaFileIsFresh(t *testing.T) {
	// `make check-generated` is the CI gate; this keeps `go test` honest too.
	on, err := os.ReadFile("mirrord-schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(on) != string(JSONSchema) {
		t.Fatal("embedded schema differs from the file")
	}
}

func TestNoStaleUnsupportedEntries(t *testing.T) {
	known := map[string]bool{}
	for _, p := range KeyPaths() {
		known[p] = true
	}
	for _, u := range unsupported {
		if !known[u.Prefix] {
			t.Errorf("unsupported entry %q is not a config key", u.Prefix)
		}
	}
}
