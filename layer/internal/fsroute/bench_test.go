package fsroute

import (
	"testing"

	"github.com/mirrord-go/mirrord/schema"
)

func BenchmarkRoute(b *testing.B) {
	r, err := New(schema.FSConfig{Mode: "read"}, testEnv)
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range []string{"/tmp/TestX123/local.txt", "/app/test.txt", "/usr/lib/x86_64-linux-gnu/libc.so.6"} {
		b.Run(p, func(b *testing.B) {
			for b.Loop() {
				r.Route(p, Read)
			}
		})
	}
}
