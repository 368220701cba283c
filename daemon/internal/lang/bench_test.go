package lang

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchConfig is upstream's complete example, the loader's benchmark input.
func benchConfig(b *testing.B) string {
	data, err := os.ReadFile("../../../schema/testdata/bench/complete.json")
	if err != nil {
		b.Fatal(err)
	}
	return string(data)
}

// percentiles runs f n times and reports p50 and p99 as metrics, which
// the goals are stated in (validate ≤ 1 ms, completion ≤ 10 ms).
func percentiles(b *testing.B, f func()) {
	var d []time.Duration
	for b.Loop() {
		start := time.Now()
		f()
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

func BenchmarkValidate(b *testing.B) {
	src := []byte(benchConfig(b))
	if d := Validate("complete.json", src); len(d) == 0 {
		b.Fatal("the complete example should have warnings (unsupported keys)")
	}
	b.Run("complete.json", func(b *testing.B) {
		b.ReportAllocs()
		percentiles(b, func() { Validate("complete.json", src) })
	})
	// The loader's complete fixture in each format: no template, so this
	// is the cost of a typical hand-written config.
	for _, name := range []string{"complete.json", "complete.toml", "complete.yaml"} {
		data, err := os.ReadFile("../../../schema/testdata/valid/" + name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("fixture-"+name, func(b *testing.B) {
			b.ReportAllocs()
			percentiles(b, func() { Validate(name, data) })
		})
	}
}

func BenchmarkCompletion(b *testing.B) {
	src := benchConfig(b)
	// Inside feature.network.incoming, after its first key.
	at := strings.Index(src, `"incoming": {`) + len(`"incoming": {`)
	src = src[:at] + "\n\"" + src[at:]
	off := at + 2
	if l := complete("json", src, off); len(l.Items) < 5 {
		b.Fatalf("completion offers %d items", len(l.Items))
	}
	b.ReportAllocs()
	percentiles(b, func() { complete("json", src, off) })
}

func BenchmarkHover(b *testing.B) {
	src := benchConfig(b)
	off := strings.Index(src, `"ttl"`) + 2
	b.ReportAllocs()
	percentiles(b, func() { hover("json", src, off) })
}

// BenchmarkScan is the scanners' share of Validate (the rest is the loader).
func BenchmarkScan(b *testing.B) {
	src := benchConfig(b)
	b.ReportAllocs()
	for b.Loop() {
		scanDoc("json", src, -1)
	}
}
