package schema

import (
	"os"
	"path/filepath"
	"testing"
)

var fuzzNames = []string{"c.json", "c.toml", "c.yaml"}

// FuzzLoad feeds arbitrary text to the loader in each format. It must never
// panic or hang; errors are fine. Seeds: the fixtures plus testdata/fuzz.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"testdata/valid", "testdata/invalid", "testdata/bench"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, p := range files {
			data, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			for i, name := range fuzzNames {
				if filepath.Ext(p) == filepath.Ext(name) {
					f.Add(data, uint8(i))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, format uint8) {
		name := fuzzNames[int(format)%len(fuzzNames)]
		r := LoadBytes(name, data, Options{Env: noEnv, IDE: format&4 != 0})
		if r.Config == nil {
			t.Fatal("nil config")
		}
		for _, e := range r.Errors {
			_ = e.String()
		}
	})
}
