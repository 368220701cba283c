package schema

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/schema/internal/tree"
)

// mutation is a config that must fail, with where and why.
type mutation struct {
	file string // under testdata/invalid (or testdata/loader_only)
	path string // key path of the first error; "" for syntax and template errors
	line int
	col  int    // 0 where the column is not stable (YAML syntax errors, templates)
	msg  string // substring of the first error's message
	// unparsed marks files that cannot be rendered or parsed (syntax and
	// template errors): the schema never sees them.
	unparsed bool
}

// mutations are rejected by the loader and by the JSON Schema alike
// (TestSchemaAgreement checks the schema side).
var mutations = []mutation{
	// Wrong types.
	{file: "type_ttl_string.json", path: "agent.ttl", line: 3, col: 12, msg: `expected an integer, found "30"`},
	{file: "type_env_number.json", path: "feature.env", line: 3, col: 12, msg: "expected true, false or an object, found 5"},
	{file: "type_skip_processes_number.json", path: "skip_processes", line: 2, col: 21, msg: "expected a string or a list of them"},
	{file: "type_fs_mode_bool.json", path: "feature.fs.mode", line: 4, col: 15, msg: "expected a string, found true"},
	{file: "type_labels_value_number.json", path: "agent.labels.replicas", line: 5, col: 19, msg: "expected a string, found 3"},
	{file: "type_incoming_number.toml", path: "feature.network.incoming", line: 4, col: 1, msg: `expected true, false, "mirror", "steal", "off" or an object, found 42`},
	{file: "communication_timeout_float.toml", path: "agent.communication_timeout", line: 2, col: 1, msg: "expected an integer, found 2.5"},
	{file: "readonly_file_buffer_string.yaml", path: "feature.fs.readonly_file_buffer", line: 4, col: 27, msg: `expected an integer, found "1MiB"`},

	// Unknown keys, including keys upstream removed, and misplaced keys.
	{file: "unknown_top_key.json", path: "bear_mode", line: 3, col: 3, msg: `unknown key "bear_mode" at the top level; valid keys: accept_invalid_certificates`},
	{file: "unknown_network_interface.json", path: "agent.network_interface", line: 4, col: 5, msg: `unknown key "network_interface" in agent`},
	{file: "unknown_connect_tcp.json", path: "connect_tcp", line: 2, col: 3, msg: `unknown key "connect_tcp" at the top level`},
	{file: "misplaced_key.json", path: "feature.ttl", line: 3, col: 5, msg: `unknown key "ttl" in feature; "ttl" is a key of agent`},
	{file: "target_object_unknown_kind.yaml", path: "target.path.deploymnt", line: 3, col: 5, msg: `unknown key "deploymnt" in target.path; did you mean "deployment"?`},

	// Misspelled keys get a suggestion.
	{file: "misspelled_feature.json", path: "feture", line: 2, col: 3, msg: `did you mean "feature"?`},
	{file: "misspelled_incoming.json", path: "feature.network.incomming", line: 5, col: 7, msg: `unknown key "incomming" in feature.network; did you mean "incoming"?`},
	{file: "misspelled_agent_key.toml", path: "agent.image_pul_policy", line: 3, col: 1, msg: `did you mean "image_pull_policy"?`},
	{file: "misspelled_header_filter.yaml", path: "feature.network.incoming.http_filter.header_filer", line: 7, col: 9, msg: `did you mean "header_filter"?`},
	{file: "env_unknown_key.yaml", path: "feature.env.includes", line: 3, col: 5, msg: `did you mean "include"?`},

	// Mutually exclusive keys: the error is on the second key.
	{file: "env_include_exclude.json", path: "feature.env.exclude", line: 5, col: 7, msg: `"include" and "exclude" cannot be used together`},
	{file: "ports_and_ignore_ports.toml", path: "feature.network.incoming.ignore_ports", line: 6, col: 1, msg: `"ports" and "ignore_ports" cannot be used together`},
	{file: "tls_and_https_delivery.yaml", path: "feature.network.incoming.https_delivery", line: 8, col: 7, msg: `"tls_delivery" and "https_delivery" cannot be used together`},
	{file: "http_two_filters.json", path: "feature.network.incoming.http_filter.path_filter", line: 9, col: 11, msg: `"header_filter" and "path_filter" cannot be used together; to combine filters, put them in any_of or all_of`},
	{file: "outgoing_filter_both.json", path: "feature.network.outgoing.filter.local", line: 7, col: 11, msg: `"remote" and "local" cannot be used together`},

	// Regexes: RE2 for paths and env names (no lookaround, as upstream's
	// regex crate), regexp2 for HTTP filters.
	{file: "fs_bad_regex.json", path: "feature.fs.read_only[1]", line: 5, col: 34, msg: `invalid regex "(unclosed"`},
	{file: "fs_lookahead_regex.json", path: "feature.fs.read_write[0]", line: 4, col: 21, msg: `invalid regex "^/tmp/(?!private)"`},
	{file: "env_mapping_bad_regex.json", path: "feature.env.mapping.(?P<name", line: 6, col: 9, msg: `invalid regex "(?P<name"`},
	{file: "http_bad_regex.json", path: "feature.network.incoming.http_filter.header_filter", line: 8, col: 28, msg: `invalid regex "^x-user: ([a-z+$"`},
	{file: "http_bad_regex_any_of.yaml", path: "feature.network.incoming.http_filter.any_of[1].path", line: 9, col: 19, msg: `invalid regex "*/api"`},

	// jq and JSONPath.
	{file: "http_bad_jq.json", path: "feature.network.incoming.http_filter.header_filter_jq", line: 8, col: 31, msg: "invalid jq filter"},
	{file: "http_bad_jsonpath.json", path: "feature.network.incoming.http_filter.body_filter.query", line: 10, col: 22, msg: "invalid JSONPath query \"user.name\": a JSONPath query starts with $"},
	{file: "bad_jsonpath_any_of.toml", path: "feature.network.incoming.http_filter.all_of[1].body.query", line: 10, col: 25, msg: `invalid JSONPath query "$.user[": unclosed '['`},

	// Other HTTP filter rules.
	{file: "http_empty_any_of.json", path: "feature.network.incoming.http_filter.any_of", line: 8, col: 21, msg: "must not be empty"},
	{file: "http_empty_header_filter.yaml", path: "feature.network.incoming.http_filter.header_filter", line: 7, col: 24, msg: "must not be empty"},
	{file: "body_filter_missing_matches.json", path: "feature.network.incoming.http_filter.body_filter", line: 8, col: 26, msg: `missing required key "matches"`},

	// Target paths.
	{file: "target_unknown_kind.json", path: "target.path", line: 2, col: 13, msg: `unknown kind "pood"; did you mean "pod"?`},
	{file: "target_bad_name.json", path: "target.path", line: 3, col: 13, msg: `"Bear_Deploy" is not a valid deployment name`},
	{file: "target_missing_name.json", path: "target.path", line: 2, col: 13, msg: `invalid target "deployment": expected "targetless" or "<kind>/<name>`},
	{file: "target_extra_segments.json", path: "target.path", line: 2, col: 13, msg: `invalid target "pod/bear-pod/container/app/extra"`},
	{file: "target_object_two_kinds.json", path: "target.path.deployment", line: 5, col: 7, msg: `a target names one workload, but both "pod" and "deployment" are set`},
	{file: "target_container_bad.toml", path: "target.path", line: 2, col: 1, msg: `"App_1" is not a valid container name`},
	{file: "target_label_bad.yaml", path: "target.path", line: 1, col: 9, msg: `invalid label selector "app"`},

	// Port pairs and port numbers.
	{file: "port_mapping_single.json", path: "feature.network.incoming.port_mapping[0]", line: 6, col: 26, msg: "expected a pair [a, b] of 2 values, found 1"},
	{file: "port_mapping_triple.json", path: "feature.network.incoming.port_mapping[1]", line: 6, col: 40, msg: "expected a pair [a, b] of 2 values, found 3"},
	{file: "port_mapping_string.json", path: "feature.network.incoming.port_mapping[0][0]", line: 6, col: 27, msg: `expected an integer, found "a"`},
	{file: "port_mapping_range.json", path: "feature.network.incoming.port_mapping[0][0]", line: 6, col: 27, msg: "expected an integer from 0 to 65535, found 70000"},
	{file: "port_mapping_out_of_range.toml", path: "feature.network.incoming.port_mapping[1][1]", line: 4, col: 38, msg: "expected an integer from 0 to 65535, found -1"},
	{file: "listen_ports_duplicate.json", path: "feature.network.incoming.listen_ports[1]", line: 6, col: 38, msg: "port 80 is listed twice (also at [0])"},
	{file: "listen_ports_duplicate_target.yaml", path: "feature.network.incoming.listen_ports[1]", line: 7, col: 11, msg: "target port 8111 is listed twice (also at [0])"},

	// Out-of-range integers.
	{file: "agent_ttl_range.json", path: "agent.ttl", line: 3, col: 12, msg: "expected an integer from 0 to 65535, found 70000"},
	{file: "agent_startup_timeout_negative.json", path: "agent.startup_timeout", line: 3, col: 24, msg: "expected an integer of at least 0, found -1"},
	{file: "startup_retry_max_zero.json", path: "startup_retry.max_ms", line: 4, col: 15, msg: "expected an integer of at least 1, found 0"},
	{file: "readonly_file_buffer_too_big.json", path: "feature.fs.readonly_file_buffer", line: 4, col: 31, msg: "expected an integer from 0 to 15728640, found 15728641"},

	// Enums.
	{file: "fs_mode_enum.json", path: "feature.fs.mode", line: 4, col: 15, msg: `invalid value "wrte", expected one of "read", "write", "local", "localwithoverrides"; did you mean "write"?`},
	{file: "incoming_mode_enum.yaml", path: "feature.network.incoming.mode", line: 5, col: 13, msg: `invalid value "stael"`},
	{file: "image_pull_policy_enum.json", path: "agent.image_pull_policy", line: 3, col: 26, msg: `invalid value "always", expected one of "IfNotPresent", "Always", "Never"; did you mean "Always"?`},
	{file: "toleration_operator_enum.toml", path: "agent.tolerations[0].operator", line: 3, col: 1, msg: `did you mean "Exists"?`},

	// An explicit "targetless" target. The JSON shorthand has no "mode"
	// key, so the error points at "incoming".
	{file: "steal_targetless.json", path: "feature.network.incoming.mode", line: 5, col: 7, msg: "steal needs a target"},
	{file: "steal_targetless.yaml", path: "feature.network.incoming.mode", line: 7, col: 7, msg: "steal needs a target"},
	{file: "ephemeral_targetless.json", path: "agent.ephemeral", line: 6, col: 5, msg: "an ephemeral agent runs inside its target's pod, so it needs a target"},
	{file: "ephemeral_targetless.toml", path: "agent.ephemeral", line: 5, col: 1, msg: "so it needs a target"},

	// Kubernetes quantities and names.
	{file: "bad_quantity.json", path: "agent.resources.requests.cpu", line: 5, col: 16, msg: `invalid Kubernetes quantity "1 core"`},
	{file: "bad_quantity_limits.yaml", path: "agent.resources.limits.memory", line: 5, col: 15, msg: `invalid Kubernetes quantity "100 MB"`},
	{file: "target_namespace_bad.json", path: "target.namespace", line: 4, col: 18, msg: `invalid name "Bear_Namespace": not a valid Kubernetes namespace name`},
	{file: "agent_namespace_bad.toml", path: "agent.namespace", line: 2, col: 1, msg: `invalid name "bears.example.com"`},

	// Outgoing and DNS filter entries. TOML positions of array items point
	// at the string's first character, inside the quotes.
	{file: "outgoing_filter_bad_protocol.json", path: "feature.network.outgoing.filter.remote[1]", line: 6, col: 42, msg: `invalid filter "ftp://files.internal": protocol must be tcp or udp`},
	{file: "outgoing_filter_bad_port.yaml", path: "feature.network.outgoing.filter.local[1]", line: 7, col: 13, msg: `port "99999" is not a number from 0 to 65535`},
	{file: "dns_filter_bad_cidr.toml", path: "feature.network.dns.filter.local[1]", line: 5, col: 25, msg: `bad CIDR "1.1.5.0/33"`},

	// Syntax errors, which nothing past the parser sees.
	{file: "syntax_json_trailing_comma.json", line: 5, col: 3, msg: "invalid JSON: invalid character '}' looking for beginning of object key string", unparsed: true},
	{file: "syntax_json_duplicate_key.json", line: 5, col: 3, msg: `duplicate key "agent" (first set at 2:3)`, unparsed: true},
	{file: "syntax_toml.toml", line: 5, col: 13, msg: "invalid TOML", unparsed: true},
	{file: "syntax_toml_table.toml", line: 3, col: 17, msg: "expected ']' to close table name", unparsed: true},
	{file: "syntax_yaml.yaml", line: 4, msg: "invalid YAML: line 4: mapping values are not allowed in this context", unparsed: true},
	{file: "syntax_yaml_tab.yaml", line: 3, msg: "invalid YAML: line 3: found character that cannot start any token", unparsed: true},

	// Template errors, which stop the file before parsing.
	{file: "template_get_env_unset.json", line: 2, msg: "MIRRORD_FIXTURE_UNSET is not set", unparsed: true},
	{file: "template_git_branch_undefined.json", line: 3, msg: "template: undefined variable in {{ git_branch }}", unparsed: true},
	{file: "template_unknown_function.yaml", line: 3, msg: `template: unknown template function "get_secret"`, unparsed: true},
}

// loaderOnly are configs that only the loader rejects, because the JSON
// Schema cannot express the rule:
//
//   - a missing target counts as targetless only outside an IDE
//     (Options.IDE): the schema cannot know whether an IDE will pick one,
//     so it checks steal and an ephemeral agent against an explicit
//     "targetless" only;
//   - the copy_target rules (targetless, operator false, service and label
//     targets): they depend on the resolved target, whose kind the schema
//     would have to recover from the string, path-object and nested forms;
//   - startup_retry.min_ms above max_ms: JSON Schema cannot compare two
//     values;
//   - a target name over 253 characters: the target pattern cannot bound
//     the length of one of its segments.
//
// Each is also checked in IDE mode: ideOK says whether the loader then
// accepts it (a missing target is not final there).
var loaderOnly = []struct {
	mutation
	ideOK bool
}{
	{mutation{file: "steal_without_target.json", path: "feature.network.incoming.mode", line: 5, col: 9, msg: "steal needs a target"}, true},
	{mutation{file: "ephemeral_without_target.toml", path: "agent.ephemeral", line: 2, col: 1, msg: "so it needs a target"}, true},
	{mutation{file: "copy_target_targetless.json", path: "feature.copy_target", line: 4, col: 5, msg: "copy_target needs a target to copy"}, false},
	{mutation{file: "copy_target_operator_false.yaml", path: "feature.copy_target", line: 4, col: 3, msg: "copy_target needs the mirrord operator, but operator is false"}, false},
	{mutation{file: "copy_target_service.json", path: "feature.copy_target", line: 4, col: 5, msg: "a service target cannot be copied"}, false},
	{mutation{file: "copy_target_label.toml", path: "feature.copy_target", line: 4, col: 1, msg: "a label target cannot be copied"}, false},
	{mutation{file: "startup_retry_min_above_max.json", path: "startup_retry.min_ms", line: 3, col: 5, msg: "min_ms (6000) is larger than max_ms (5000)"}, false},
	{mutation{file: "target_name_too_long.yaml", path: "target.path", line: 1, col: 9, msg: "is not a valid deployment name"}, false},
}

// checkFirstError loads a failing fixture with verify-config's settings
// (SchemaCheck on) and with `mirrord exec`'s (off); both must give the same
// first error, with the expected path, position and message.
func checkFirstError(t *testing.T, dir string, m mutation, ide bool) {
	t.Helper()
	path := filepath.Join("testdata", dir, m.file)
	var firsts []string
	for _, schemaCheck := range []bool{true, false} {
		opts := fixtureOptions(t, nil)
		opts.SchemaCheck = schemaCheck
		opts.IDE = ide
		res := Load(path, opts)
		if len(res.Errors) == 0 {
			t.Fatalf("SchemaCheck=%v: loaded without errors; want %s at %d:%d", schemaCheck, m.path, m.line, m.col)
		}
		e := res.Errors[0]
		if e.Path != m.path || e.Pos.Line != m.line || m.col != 0 && e.Pos.Col != m.col || !strings.Contains(e.Msg, m.msg) {
			t.Errorf("SchemaCheck=%v: first error\n  %d:%d %s: %s\nwant\n  %d:%d %s: ...%s...", schemaCheck,
				e.Pos.Line, e.Pos.Col, e.Path, e.Msg, m.line, m.col, m.path, m.msg)
		}
		// verify-config prints "file:line:col: key.path: message".
		prefix := fmt.Sprintf("%s:%d:", path, m.line)
		if !strings.HasPrefix(e.String(), prefix) || m.path != "" && !strings.Contains(e.String(), " "+m.path+": ") {
			t.Errorf("verify-config line %q does not start with %q and name %q", e.String(), prefix, m.path)
		}
		firsts = append(firsts, e.String())
	}
	if firsts[0] != firsts[1] {
		t.Errorf("the schema check changes the first error:\n  %s\n  %s", firsts[0], firsts[1])
	}
}

func TestMutations(t *testing.T) {
	listed := map[string]bool{}
	byFormat := map[string]int{}
	for _, m := range mutations {
		if listed[m.file] {
			t.Errorf("%s is listed twice", m.file)
		}
		listed[m.file] = true
		byFormat[filepath.Ext(m.file)]++
		t.Run(m.file, func(t *testing.T) { checkFirstError(t, "invalid", m, false) })
	}
	for _, f := range fixtureFiles(t, "invalid") {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no entry in mutations", f)
		}
	}
	if len(mutations) < 45 || byFormat[".toml"] < 8 || byFormat[".yaml"] < 8 {
		t.Errorf("too few mutations: %d in all, by format %v", len(mutations), byFormat)
	}
}

func TestLoaderOnlyRules(t *testing.T) {
	listed := map[string]bool{}
	for _, m := range loaderOnly {
		listed[m.file] = true
		t.Run(m.file, func(t *testing.T) {
			checkFirstError(t, "loader_only", m.mutation, false)
			opts := fixtureOptions(t, nil)
			opts.IDE = true
			res := Load(filepath.Join("testdata", "loader_only", m.file), opts)
			if ok := len(res.Errors) == 0; ok != m.ideOK {
				t.Errorf("IDE mode: accepted=%v, want %v (errors: %v)", ok, m.ideOK, res.Errors)
			}
		})
	}
	for _, f := range fixtureFiles(t, "loader_only") {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s has no entry in loaderOnly", f)
		}
	}
}

// TestSchemaAgreement proves that the generated JSON Schema and the loader
// agree on every fixture: the schema accepts every valid fixture and
// rejects every invalid one that can be parsed, and for each file the
// loader's verdict (without the schema check) equals the schema's.
// Templated fixtures are rendered first with the loader's own render(), so
// the schema validates the same document the decoder decodes. The
// loader_only fixtures are the documented exceptions: the schema accepts
// them (see loaderOnly for why).
func TestSchemaAgreement(t *testing.T) {
	unparsed := map[string]bool{}
	for _, m := range mutations {
		unparsed[m.file] = m.unparsed
	}
	var names []string
	for _, dir := range []string{"valid", "invalid", "loader_only"} {
		for _, f := range fixtureFiles(t, dir) {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	for _, path := range names {
		dir := filepath.Base(filepath.Dir(path))
		base := filepath.Base(path)
		t.Run(dir+"/"+base, func(t *testing.T) {
			env := fixtureBaseEnv[fixtureBase(path)]
			opts := fixtureOptions(t, env)
			loaderOK := len(Load(path, opts).Errors) == 0
			root, err := parseFixture(path, env, opts.Dir)
			if err != nil {
				if dir != "invalid" || !unparsed[base] {
					t.Fatalf("cannot be parsed: %v", err)
				}
				if loaderOK {
					t.Fatalf("cannot be parsed, but the loader accepts it")
				}
				return
			}
			if unparsed[base] {
				t.Fatalf("marked unparsed, but parses")
			}
			verr := ValidateDocument(root)
			schemaOK := verr == nil
			switch dir {
			case "valid":
				if !schemaOK {
					t.Errorf("the schema rejects a valid fixture: %v", verr)
				}
				if !loaderOK {
					t.Errorf("the loader rejects a valid fixture")
				}
			case "invalid":
				if schemaOK {
					t.Errorf("the schema accepts an invalid fixture")
				}
				if loaderOK {
					t.Errorf("the loader accepts an invalid fixture")
				}
			case "loader_only":
				if !schemaOK {
					t.Errorf("the schema rejects it, so it belongs in invalid/: %v", verr)
				}
				if loaderOK {
					t.Errorf("the loader accepts it")
				}
				return
			}
			if loaderOK != schemaOK {
				t.Errorf("loader accepts=%v, schema accepts=%v (%v)", loaderOK, schemaOK, verr)
			}
		})
	}
}

// TestSchemaIssuePaths: the schema check names keys as the loader does,
// even keys with characters a JSON pointer escapes.
func TestSchemaIssuePaths(t *testing.T) {
	for _, tt := range []struct{ doc, path string }{
		{`{"feature": {"env": {"mapping": {"(?P<name": "x"}}}}`, "feature.env.mapping.(?P<name"},
		{`{"agent": {"annotations": {"cats.io/inject": 1}}}`, "agent.annotations.cats.io/inject"},
		{`{"agent": {"tolerations": [{"operator": "exists"}]}}`, "agent.tolerations[0].operator"},
	} {
		root, err := tree.Parse(tree.JSON, []byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, is := range validateAgainstSchema(root, "c.json") {
			paths = append(paths, is.Path)
		}
		if !contains(paths, tt.path) {
			t.Errorf("%s: schema issues at %q, want one at %q", tt.doc, paths, tt.path)
		}
	}
}
