package httpsteal

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkStealHTTP1 measures requests per second through Serve on
// loopback: a client on keep-alive connections, the steal, and a backend
// app, with every request matched against a header filter. "original" and
// "local" send every request to one side; "mixed" alternates on one
// connection; "parallel" runs GOMAXPROCS clients at once; "direct" is the
// client talking to the backend without the steal, for comparison.
func BenchmarkStealHTTP1(b *testing.B) {
	original, local := newBackend(b, "original"), newBackend(b, "local")
	steal := newSteal(b, Options{Original: original.dest, Pick: pickByFilter(b, userFilter, local.dest)})
	tr := &http.Transport{MaxIdleConnsPerHost: 1024}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	url := "http://" + steal.addr + "/bench"
	var get func(b *testing.B, url string, mine bool)
	do := func(b *testing.B, mine bool) { get(b, url, mine) }
	get = func(b *testing.B, url string, mine bool) {
		req, _ := http.NewRequest("GET", url, nil)
		if mine {
			req.Header.Set("X-Mirrord-User", "me")
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	// direct is the baseline without the steal in between.
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			get(b, "http://"+original.addr+"/bench", false)
		}
		report(b)
	})
	for _, bc := range []struct {
		name string
		mine func(i int) bool
	}{
		{"original", func(int) bool { return false }},
		{"local", func(int) bool { return true }},
		{"mixed", func(i int) bool { return i%2 == 0 }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				do(b, bc.mine(i))
				i++
			}
			report(b)
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				do(b, i%2 == 0)
				i++
			}
		})
		report(b)
	})
}
