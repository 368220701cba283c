package lang

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.lsp.dev/protocol"
	"go.lsp.dev/uri"
)

// client plays the editor: it opens and edits documents and records what
// the server publishes.
type client struct {
	t   *testing.T
	srv *Server
	mu  sync.Mutex
	pub map[protocol.DocumentURI][]*protocol.PublishDiagnosticsParams
	ver int32
}

func newClient(t *testing.T) *client {
	c := &client{t: t, pub: map[protocol.DocumentURI][]*protocol.PublishDiagnosticsParams{}}
	c.srv = New(func(_ context.Context, p *protocol.PublishDiagnosticsParams) error {
		p = wire(t, p)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.pub[p.URI] = append(c.pub[p.URI], p)
		return nil
	})
	return c
}

// wire sends v through JSON, as the client's messages travel.
func wire[T any](t *testing.T, v *T) *T {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out := new(T)
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (c *client) last(u protocol.DocumentURI) *protocol.PublishDiagnosticsParams {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.pub[u]
	if len(list) == 0 {
		c.t.Fatalf("no diagnostics published for %s", u)
	}
	return list[len(list)-1]
}

func (c *client) open(name, text string) protocol.DocumentURI {
	c.t.Helper()
	u := uri.File(filepath.Join("/ws/.mirrord", name))
	c.ver = 1
	err := c.srv.DidOpen(context.Background(), wire(c.t, &protocol.DidOpenTextDocumentParams{TextDocument: protocol.TextDocumentItem{
		URI: u, LanguageID: protocol.LanguageIdentifier(strings.TrimPrefix(filepath.Ext(name), ".")), Version: c.ver, Text: text}}))
	if err != nil {
		c.t.Fatal(err)
	}
	return u
}

func (c *client) change(u protocol.DocumentURI, text string) {
	c.t.Helper()
	c.ver++
	err := c.srv.DidChange(context.Background(), wire(c.t, &protocol.DidChangeTextDocumentParams{
		TextDocument:   protocol.VersionedTextDocumentIdentifier{TextDocumentIdentifier: protocol.TextDocumentIdentifier{URI: u}, Version: c.ver},
		ContentChanges: []protocol.TextDocumentContentChangeEvent{{Text: text}},
	}))
	if err != nil {
		c.t.Fatal(err)
	}
}

// errorsOf returns the error diagnostics as "covered text: message".
func errorsOf(text string, p *protocol.PublishDiagnosticsParams) []string {
	tx := newText(text)
	var out []string
	for _, d := range p.Diagnostics {
		if d.Severity == protocol.DiagnosticSeverityError {
			out = append(out, text[tx.offset(d.Range.Start):tx.offset(d.Range.End)]+": "+d.Message)
		}
	}
	return out
}

// cursorText splits a text with one "|" into the text and the cursor.
func cursorText(t *testing.T, s string) (string, protocol.Position) {
	t.Helper()
	i := strings.Index(s, "|")
	if i < 0 {
		t.Fatalf("no | cursor in %q", s)
	}
	text := s[:i] + s[i+1:]
	return text, newText(text).position(i)
}

func TestDiagnosticsLifecycle(t *testing.T) {
	tests := []struct {
		name             string
		valid, invalid   string
		covered, message string // the invalid text's error: covered text, message part
	}{
		{
			name:    "mirrord.json",
			valid:   `{"feature": {"network": {"incoming": {"mode": "steal"}}}, "target": "deployment/web"}`,
			invalid: `{"feature": {"network": {"incoming": {"mode": "stela"}}}, "target": "deployment/web"}`,
			covered: `"stela"`, message: `feature.network.incoming.mode: invalid value "stela"`,
		},
		{
			name:    "mirrord.toml",
			valid:   "target = \"deployment/web\"\n[feature.network.incoming]\nmode = \"steal\"\n",
			invalid: "target = \"deployment/web\"\n[feature.network.incoming]\nmode = \"stela\"\n",
			covered: `"stela"`, message: `feature.network.incoming.mode: invalid value "stela"`,
		},
		{
			name:    "mirrord.yaml",
			valid:   "target: deployment/web\nfeature:\n  network:\n    incoming:\n      mode: steal\n",
			invalid: "target: deployment/web\nfeature:\n  network:\n    incoming:\n      mode: stela # typo\n",
			covered: `stela`, message: `feature.network.incoming.mode: invalid value "stela"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t)
			u := c.open(tt.name, tt.valid)
			if errs := errorsOf(tt.valid, c.last(u)); len(errs) > 0 {
				t.Fatalf("didOpen of a valid config: errors %q", errs)
			}
			c.change(u, tt.invalid)
			p := c.last(u)
			if p.Version != uint32(c.ver) {
				t.Errorf("diagnostics version %d, want %d", p.Version, c.ver)
			}
			errs := errorsOf(tt.invalid, p)
			if len(errs) != 1 || !strings.HasPrefix(errs[0], tt.covered+": "+tt.message) {
				t.Fatalf("didChange to an invalid value: errors %q, want one %q", errs, tt.covered+": "+tt.message+"…")
			}
			c.change(u, tt.valid)
			if errs := errorsOf(tt.valid, c.last(u)); len(errs) > 0 {
				t.Fatalf("didChange back: errors %q", errs)
			}
			if err := c.srv.DidClose(context.Background(), &protocol.DidCloseTextDocumentParams{TextDocument: protocol.TextDocumentIdentifier{URI: u}}); err != nil {
				t.Fatal(err)
			}
			if n := len(c.last(u).Diagnostics); n != 0 {
				t.Fatalf("didClose left %d diagnostics", n)
			}
			if _, err := c.srv.Completion(context.Background(), &protocol.CompletionParams{TextDocumentPositionParams: protocol.TextDocumentPositionParams{TextDocument: protocol.TextDocumentIdentifier{URI: u}}}); err == nil {
				t.Fatal("completion on a closed document: no error")
			}
		})
	}
}

func TestValidateRanges(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // "covered text: message prefix"
	}{
		{"a.json", `{"agent": {"ttl": "x", "bogus": 1}}`, []string{`"x": agent.ttl: expected an integer`, `"bogus": agent.bogus: unknown key "bogus"`}},
		{"a.toml", "[agent]\nttl = \"x\"\nbogus = 1\n", []string{`"x": agent.ttl: expected an integer`, `bogus: agent.bogus: unknown key "bogus"`}},
		{"a.yaml", "agent:\n  ttl: x\n  bogus: 1\n", []string{`x: agent.ttl: expected an integer`, `bogus: agent.bogus: unknown key "bogus"`}},
		{"a.toml", "agent.ttl = 70000\n", []string{`70000: agent.ttl: expected an integer from 0 to 65535`}},
		{"a.toml", "[feature.network]\nincoming = { mode = \"x\" }\n", []string{`"x": feature.network.incoming.mode: invalid value "x"`}},
		{"a.yaml", "feature: {network: {incoming: {mode: x}}}\n", []string{`x: feature.network.incoming.mode: invalid value "x"`}},
		{"a.json", "{\n  \"feature\": {\"network\": {\"incoming\": 42}}\n}", []string{`42: feature.network.incoming: expected true, false`}},
		{"a.yaml", "feature:\n  network:\n    incoming:\n      - 1\n", []string{`incoming: feature.network.incoming: expected true, false`}},
		{"a.json", `{"feature": {"fs": {"mode": "read", "read_only": ["a", "("]}}}`, []string{`"(": feature.fs.read_only[1]: invalid regex`}},
		{"a.json", `{"agent": {"ttl": 1,}}`, []string{`}: invalid JSON`}},
		{"a.yaml", "agent:\n  ttl: 1\n bad: [\n", []string{`ttl: 1: invalid YAML`}},
		{"a.json", `{"target": "targetless", "feature": {"network": {"incoming": {"mode": "steal"}}}}`, []string{`"mode": feature.network.incoming.mode: steal needs a target`}},
		// UTF-16 columns: the emoji takes two.
		{"a.json", `{"agent": {"labels": {"a": "😀"}, "ttl": "x"}}`, []string{`"x": agent.ttl: expected an integer`}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.text, func(t *testing.T) {
			got := errorsOf(tt.text, &protocol.PublishDiagnosticsParams{Diagnostics: Validate(tt.name, []byte(tt.text))})
			if len(got) != len(tt.want) {
				t.Fatalf("errors %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d: %q, want %q…", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestUTF16Range(t *testing.T) {
	text := `{"agent": {"labels": {"a": "😀"}, "ttl": "x"}}`
	d := Validate("a.json", []byte(text))
	if len(d) != 1 {
		t.Fatalf("diagnostics %v", d)
	}
	// byte 45 holds `"x"`: 4 bytes of emoji are 2 UTF-16 units.
	want := protocol.Range{Start: protocol.Position{Line: 0, Character: 41}, End: protocol.Position{Line: 0, Character: 44}}
	if d[0].Range != want {
		t.Fatalf("range %v, want %v", d[0].Range, want)
	}
}

// TestFixtures: every valid fixture of the loader validates without
// errors, and every error of an invalid one starts on the line the loader
// names.
func TestFixtures(t *testing.T) {
	valid, _ := filepath.Glob("../../../schema/testdata/valid/*")
	invalid, _ := filepath.Glob("../../../schema/testdata/invalid/*")
	if len(valid) < 100 || len(invalid) < 50 {
		t.Fatalf("fixtures not found: %d valid, %d invalid", len(valid), len(invalid))
	}
	for _, f := range valid {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range Validate(f, data) {
			if d.Severity == protocol.DiagnosticSeverityError {
				t.Errorf("%s: %v", f, d)
			}
		}
	}
	for _, f := range invalid {
		if strings.Contains(f, "git_branch_undefined") {
			continue // valid here: this test runs inside a git checkout
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		diags := Validate(f, data)
		errs := 0
		for _, d := range diags {
			if d.Severity != protocol.DiagnosticSeverityError {
				continue
			}
			errs++
			if d.Range.End.Line < d.Range.Start.Line || d.Range.End.Line == d.Range.Start.Line && d.Range.End.Character < d.Range.Start.Character {
				t.Errorf("%s: range %v ends before it starts", f, d.Range)
			}
		}
		if errs == 0 {
			t.Errorf("%s: no error diagnostic", f)
		}
	}
}

// TestWireShapes: what the client receives, as JSON.
func TestWireShapes(t *testing.T) {
	caps, err := json.Marshal(New(nil).Capabilities())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"textDocumentSync":{"openClose":true,"change":1}`, `"completionProvider":{"triggerCharacters":[`, `"hoverProvider":true`} {
		if !strings.Contains(string(caps), want) {
			t.Errorf("capabilities %s lack %s", caps, want)
		}
	}
	src := "feature:\n  network:\n    incoming:\n      mode: "
	list, err := json.Marshal(complete("yaml", src, len(src)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"isIncomplete":false`, `"label":"steal"`, `"documentation":{"kind":"markdown","value":"**feature.network.incoming.mode**`, `"textEdit":{"range":{"start":{"line":3,"character":12},"end":{"line":3,"character":12}},"newText":"steal"}`} {
		if !strings.Contains(string(list), want) {
			t.Errorf("completion %s lacks %s", list, want)
		}
	}
	empty, _ := json.Marshal(Validate("a.json", []byte(`{}`)))
	if string(empty) != "[]" {
		t.Errorf("no diagnostics: %s, want [] (null would not clear the client's list)", empty)
	}
}

// TestValidateEnv: templates see the daemon's environment, but MIRRORD_*
// overrides do not leak into a file's diagnostics.
func TestValidateEnv(t *testing.T) {
	t.Setenv("MIRRORD_AGENT_TTL", "abc")
	t.Setenv("D2_TEST_NAMESPACE", "Not_Valid")
	text := `{"agent": {"ttl": 3, "namespace": "{{ get_env(name="D2_TEST_NAMESPACE") }}"}}`
	got := errorsOf(text, &protocol.PublishDiagnosticsParams{Diagnostics: Validate("a.json", []byte(text))})
	if len(got) != 1 || !strings.Contains(got[0], `agent.namespace: invalid name "Not_Valid"`) {
		t.Fatalf("errors %q, want only the namespace from the template", got)
	}
}
