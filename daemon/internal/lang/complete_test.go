package lang

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.lsp.dev/protocol"
)

// apply performs a completion item's edit as the editor would.
func apply(text string, e *protocol.TextEdit) string {
	tx := newText(text)
	return text[:tx.offset(e.Range.Start)] + e.NewText + text[tx.offset(e.Range.End):]
}

func TestCompletion(t *testing.T) {
	incomingKeys := []string{"mode", "http_filter", "port_mapping", "ports", "ignore_ports", "listen_ports", "ignore_localhost"}
	modes := []string{"mirror", "steal", "off"}
	tests := []struct {
		name, text string
		want       []string // labels offered (all of them, in any order, among others)
		absent     []string // labels not offered
		exact      bool     // want is the whole list, in order
		pick       string   // apply this item ...
		result     string   // ... and expect this text
	}{
		// As typed, incomplete: the brief's example.
		{name: "c.json", text: `{"feature": {"network": {"incoming": {"|`, want: incomingKeys,
			pick: "mode", result: `{"feature": {"network": {"incoming": {"mode": `},
		{name: "c.json", text: `{"feature": {"network": {"incoming": {"mode": "steal", |}}}}`, want: []string{"http_filter", "port_mapping"}, absent: []string{"mode"},
			pick: "port_mapping", result: `{"feature": {"network": {"incoming": {"mode": "steal", "port_mapping": }}}}`},
		{name: "c.json", text: `{"feature": {"network": {"incoming": {"mode": "st|`, want: modes, exact: true,
			pick: "steal", result: `{"feature": {"network": {"incoming": {"mode": "steal"`},
		{name: "c.json", text: `{"feature": {"network": {"incoming": |}}}`, want: []string{"true", "false", "mirror", "steal", "off"}},
		{name: "c.json", text: `{"agent": {"tt|": 3}}`, want: []string{"ttl"}, pick: "ttl", result: `{"agent": {"ttl": 3}}`},
		{name: "c.json", text: `{"agent": {"ttl": 3, |}}`, want: []string{"log_level", "namespace"}, absent: []string{"ttl", "mode"}},
		{name: "c.json", text: `{|}`, want: []string{"feature", "agent", "target"}},
		{name: "c.json", text: `{"agent": {"tolerations": [{"|`, want: []string{"key", "operator", "effect"}},
		{name: "c.json", text: `{"agent": {"image_pull_policy": "|"}}`, want: []string{"IfNotPresent", "Always", "Never"}},

		{name: "c.toml", text: "[feature.network.incoming]\n|", want: incomingKeys,
			pick: "http_filter", result: "[feature.network.incoming]\nhttp_filter = "},
		{name: "c.toml", text: "[feature.network.incoming]\nmode = \"steal\"\n|\n", want: []string{"port_mapping"}, absent: []string{"mode"}},
		{name: "c.toml", text: "[feature.network.incoming]\nmode = |", want: modes, exact: true,
			pick: "mirror", result: "[feature.network.incoming]\nmode = \"mirror\""},
		{name: "c.toml", text: "[feature.network.incoming]\nmode = \"o|\"\n", want: modes, pick: "off", result: "[feature.network.incoming]\nmode = \"off\"\n"},
		{name: "c.toml", text: "[feature]\nnetwork.incoming.|", want: incomingKeys},
		{name: "c.toml", text: "[feature.network.|", want: []string{"incoming", "outgoing", "dns"},
			pick: "incoming", result: "[feature.network.incoming"},
		{name: "c.toml", text: "feature = { network = { incoming = { |", want: incomingKeys},
		{name: "c.toml", text: "[agent]\nlog_level = \"info\"\n\n[feature]\n|", want: []string{"env", "fs", "network"}, absent: []string{"log_level"}},

		{name: "c.yaml", text: "feature:\n  network:\n    incoming:\n      |", want: incomingKeys,
			pick: "mode", result: "feature:\n  network:\n    incoming:\n      mode: "},
		{name: "c.yaml", text: "feature:\n  network:\n    incoming:\n      mode: |", want: modes, exact: true,
			pick: "steal", result: "feature:\n  network:\n    incoming:\n      mode: steal"},
		{name: "c.yaml", text: "feature:\n  network:\n    incoming:\n      mode: st|\n      port_mapping: [[1, 2]]\n", want: modes,
			pick: "steal", result: "feature:\n  network:\n    incoming:\n      mode: steal\n      port_mapping: [[1, 2]]\n"},
		{name: "c.yaml", text: "feature:\n  network:\n    incoming:\n      po|\n      mode: steal\n", want: []string{"port_mapping", "ports"}, absent: []string{"mode"}},
		{name: "c.yaml", text: "feature:\n  network:\n    incoming:\n      mode: steal\n    |", want: []string{"outgoing", "dns"}, absent: []string{"incoming", "mode"}},
		{name: "c.yaml", text: "agent:\n  tolerations:\n    - |", want: []string{"key", "operator", "effect"}},
		{name: "c.yaml", text: "|", want: []string{"feature", "agent", "target"}},
		{name: "c.yaml", text: "feature: {network: {incoming: {|", want: incomingKeys},
		{name: "c.yaml", text: "agent:\n  tolerations:\n    - key: a\n      |\n", want: []string{"operator", "effect"}, absent: []string{"key"}},
		{name: "c.yaml", text: "agent:\n  tolerations:\n    - key: a\n    - |\n", want: []string{"key", "operator"}},
		{name: "c.toml", text: "[[agent.tolerations]]\nkey = \"a\"\n|", want: []string{"operator", "effect"}, absent: []string{"key"}},
		{name: "c.yaml", text: "feature:\n  fs: |\n", want: []string{"read", "write", "local", "localwithoverrides", "true", "false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.text, func(t *testing.T) {
			text, pos := cursorText(t, tt.text)
			c := newClient(t)
			u := c.open(tt.name, text)
			list, err := c.srv.Completion(context.Background(), &protocol.CompletionParams{TextDocumentPositionParams: protocol.TextDocumentPositionParams{
				TextDocument: protocol.TextDocumentIdentifier{URI: u}, Position: pos}})
			if err != nil {
				t.Fatal(err)
			}
			byLabel := map[string]protocol.CompletionItem{}
			var labels []string
			for _, it := range list.Items {
				byLabel[it.Label] = it
				labels = append(labels, it.Label)
				doc, _ := it.Documentation.(protocol.MarkupContent)
				if doc.Kind != protocol.Markdown || doc.Value == "" {
					t.Errorf("item %q has no markdown documentation", it.Label)
				}
			}
			if tt.exact && strings.Join(labels, ",") != strings.Join(tt.want, ",") {
				t.Errorf("items %q, want exactly %q", labels, tt.want)
			}
			for _, w := range tt.want {
				if _, ok := byLabel[w]; !ok {
					t.Errorf("%q not offered; items: %q", w, labels)
				}
			}
			for _, a := range tt.absent {
				if _, ok := byLabel[a]; ok {
					t.Errorf("%q offered, but it should not be", a)
				}
			}
			if tt.pick != "" {
				it, ok := byLabel[tt.pick]
				if !ok {
					t.Fatalf("%q not offered", tt.pick)
				}
				if got := apply(text, it.TextEdit); got != tt.result {
					t.Errorf("after picking %q:\n got %q\nwant %q", tt.pick, got, tt.result)
				}
			}
		})
	}
}

func TestCompletionDocs(t *testing.T) {
	list := complete("json", `{"feature": {"network": {"incoming": {"`, len(`{"feature": {"network": {"incoming": {"`))
	for _, it := range list.Items {
		if it.Label != "mode" {
			continue
		}
		doc := it.Documentation.(protocol.MarkupContent).Value
		for _, want := range []string{"feature.network.incoming.mode", "`steal`: the local process answers instead", "Default: `\"mirror\"`"} {
			if !strings.Contains(doc, want) {
				t.Errorf("mode's documentation %q lacks %q", doc, want)
			}
		}
		return
	}
	t.Fatal("mode not offered")
}

func TestHover(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // substrings of the hover; none means no hover
		covered    string   // the text the hover's range covers
	}{
		{"h.json", `{"feature": {"network": {"incoming": {"mo|de": "steal"}}}}`, []string{"**feature.network.incoming.mode**", "`mirror`: the local process gets a copy", "Default: `\"mirror\"`"}, `"mode"`},
		{"h.json", `{"agent": {"tt|l": 30}}`, []string{"**agent.ttl**"}, `"ttl"`},
		{"h.json", `{"agent": {"ttl": 3|0}}`, []string{"**agent.ttl**"}, `30`},
		{"h.toml", "[feature.network.incoming]\nmo|de = \"steal\"\n", []string{"**feature.network.incoming.mode**", "Default: `\"mirror\"`"}, "mode"},
		{"h.toml", "[feature.net|work.incoming]\n", []string{"**feature.network**"}, "network"},
		{"h.toml", "agent.t|tl = 1\n", []string{"**agent.ttl**"}, "agent.ttl"},
		{"h.yaml", "feature:\n  network:\n    incoming:\n      mo|de: steal\n", []string{"**feature.network.incoming.mode**", "Default: `\"mirror\"`"}, "mode"},
		{"h.yaml", "agent:\n  tolerations:\n    - ope|rator: Exists\n", []string{"**agent.tolerations[].operator**"}, "operator"},
		{"h.json", `{"bog|us": 1}`, nil, ""},
		{"h.json", `{"agent": {}|}`, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+tt.text, func(t *testing.T) {
			text, pos := cursorText(t, tt.text)
			c := newClient(t)
			u := c.open(tt.name, text)
			h, err := c.srv.Hover(context.Background(), &protocol.HoverParams{TextDocumentPositionParams: protocol.TextDocumentPositionParams{
				TextDocument: protocol.TextDocumentIdentifier{URI: u}, Position: pos}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if h != nil {
					t.Fatalf("hover %q, want none", h.Contents.Value)
				}
				return
			}
			if h == nil {
				t.Fatal("no hover")
			}
			if h.Contents.Kind != protocol.Markdown {
				t.Errorf("hover kind %q", h.Contents.Kind)
			}
			for _, w := range tt.want {
				if !strings.Contains(h.Contents.Value, w) {
					t.Errorf("hover %q lacks %q", h.Contents.Value, w)
				}
			}
			tx := newText(text)
			if got := text[tx.offset(h.Range.Start):tx.offset(h.Range.End)]; got != tt.covered {
				t.Errorf("hover range covers %q, want %q", got, tt.covered)
			}
		})
	}
}

// TestTolerance types every fixture as an editor would: completion
// and hover must answer (or decline) at offsets of every prefix,
// never panic. The scanners see the text an editor holds mid-edit.
func TestTolerance(t *testing.T) {
	files, _ := filepath.Glob("../../../schema/testdata/valid/*")
	bad, _ := filepath.Glob("../../../schema/testdata/invalid/*")
	files = append(files, bad...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		format := formatOf(f)
		src := string(data)
		// About 50 offsets a file keeps the run short; the files' mix of
		// shapes covers the scanners' states.
		step := max(1, len(src)/50)
		for off := 0; off <= len(src); off += step {
			complete(format, src[:off], off)
			complete(format, src, off)
			hover(format, src, off)
		}
		Validate(f, data[:len(data)/2])
	}
}
