package schema

import (
	"os"
	"testing"
)

// BenchmarkLoadComplete measures load + template + decode + schema check +
// verify of upstream's complete example (goal: under 1 ms).
func BenchmarkLoadComplete(b *testing.B) {
	data, err := os.ReadFile("testdata/bench/complete.json")
	if err != nil {
		b.Fatal(err)
	}
	if r := LoadBytes("complete.json", data, Options{Env: noEnv}); len(r.Errors) > 0 {
		b.Fatal(r.Errors)
	}
	for _, check := range []bool{false, true} {
		name := "loader"
		if check {
			name = "loader+schema"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				LoadBytes("complete.json", data, Options{Env: noEnv, SchemaCheck: check})
			}
		})
	}
}
