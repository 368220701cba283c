package lang

import (
	"testing"
	"unicode/utf8"
)

// FuzzScan feeds arbitrary text and offsets to the tolerant scanners: an
// editor sends whatever the user has typed, and a panic here would take the
// daemon's connection down. Every range handed back must lie in the text.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{"feature": {"network": {"incoming": {"`,
		"[feature.network.incoming]\nmode = \"st",
		"feature:\n  network:\n    incoming:\n      mode: st",
		"a = [1, {b = 'x'}, \"\"\"\nq\n\"\"\"]\n[[t]]\n",
		"- a: |\n    x\n  b: {c: [1, 2}\n",
	} {
		for _, format := range []string{"json", "toml", "yaml"} {
			f.Add(format, s, len(s)/2)
		}
	}
	f.Fuzz(func(t *testing.T, format, src string, off int) {
		if off < 0 || off > len(src) {
			return
		}
		list := complete(format, src, off)
		for _, it := range list.Items {
			tx := newText(src)
			if s, e := tx.offset(it.TextEdit.Range.Start), tx.offset(it.TextEdit.Range.End); s > e {
				t.Fatalf("completion edit %v runs backwards", it.TextEdit.Range)
			}
		}
		hover(format, src, off)
		if !utf8.ValidString(src) {
			return
		}
		name := map[string]string{"json": "f.json", "toml": "f.toml", "yaml": "f.yaml"}[format]
		if name == "" {
			return
		}
		for _, d := range Validate(name, []byte(src)) {
			if d.Range.End.Line < d.Range.Start.Line {
				t.Fatalf("diagnostic %v runs backwards", d.Range)
			}
		}
	})
}
