//go:build linux

package sniff

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/testns"
)

// countingWriter is a consumer that keeps up: it only counts.
type countingWriter struct {
	n      *atomic.Int64
	closed *atomic.Int64
}

func (w countingWriter) Write(b []byte) (int, error) { w.n.Add(int64(len(b))); return len(b), nil }
func (w countingWriter) Close() error                { w.closed.Add(1); return nil }

// BenchmarkSniff measures a loopback transfer in a namespace (one new
// connection of 16 MiB per iteration) without a sniffer, with one open
// but watching another port, and with one copying the connection. The
// original connection never waits for the copy; what the copy costs it is
// CPU shared on the same machine (the kernel's clone of each packet and
// the agent's reads).
//
//	go test -run '^$' -bench Sniff ./agent/internal/incoming/sniff/
func BenchmarkSniff(b *testing.B) {
	const size = 16 << 20
	data := make([]byte, size)
	rand.Read(data)
	for _, mode := range []string{"none", "unwatched", "watched"} {
		b.Run(mode, func(b *testing.B) {
			ns := netnsOf(testns.New(b))
			ln := listen(b, ns, "127.0.0.1:0")
			var copied, closed atomic.Int64
			if mode != "none" {
				s, err := Open(context.Background(), Options{NS: ns, Log: benchLog(), Handler: func(Conn) io.WriteCloser {
					return countingWriter{&copied, &closed}
				}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				if mode == "watched" {
					s.Watch(port(ln))
				} else {
					s.Watch(1)
				}
			}
			got := discardSink(ln)
			b.SetBytes(size)
			b.ResetTimer()
			for b.Loop() {
				c, err := nsenter.Dialer{NS: ns}.Dial(context.Background(), "tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Write(data); err != nil {
					b.Fatal(err)
				}
				c.Close()
				if n := <-got; n != size {
					b.Fatalf("the server read %d bytes", n)
				}
			}
			b.StopTimer()
			if mode == "watched" {
				// The last copy's writer may still be finishing.
				for deadline := time.Now().Add(waitFor); closed.Load() < int64(b.N) && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				b.ReportMetric(float64(copied.Load())/float64(int64(b.N)*size)*100, "%copied")
			}
		})
	}
}

func benchLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
