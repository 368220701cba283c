package sample

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink that the app's goroutines and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs fn in a goroutine until the test ends and fails the test if fn
// returns an error.
func start(t *testing.T, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("app returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("app did not stop within 5s")
		}
	})
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestWeb(t *testing.T) {
	file := filepath.Join(t.TempDir(), "test.txt")
	if err := os.WriteFile(file, []byte(TestFileText), 0o644); err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	logs := &syncBuffer{}
	start(t, func(ctx context.Context) error {
		return Web(ctx, ln, file, slog.New(slog.NewTextHandler(logs, nil)))
	})
	host, _ := os.Hostname()
	base := "http://" + ln.Addr().String()
	tests := []struct {
		method, path string
		wantCode     int
		wantBody     string
	}{
		{"GET", "/", 200, WebResponse("GET", host)},
		{"POST", "/some/path", 200, WebResponse("POST", host)},
		{"DELETE", "/", 200, WebResponse("DELETE", host)},
		{"GET", "/file", 200, TestFileText},
		{"GET", HealthPath, 200, "ok\n"},
		{"GET", "/resolve?name=localhost", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, base+tt.path, strings.NewReader("body"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body %q, want %q", body, tt.wantBody)
			}
		})
	}
	if got := logs.String(); !strings.Contains(got, "path=/some/path") || strings.Contains(got, "path="+HealthPath) {
		t.Errorf("logs should hold requests but not health checks:\n%s", got)
	}
}

func TestTCPEcho(t *testing.T) {
	ln := listen(t)
	start(t, func(ctx context.Context) error { return TCPEcho(ctx, ln, slog.New(slog.DiscardHandler)) })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for _, msg := range []string{"hello", "mirrord\n"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("echo = %q, %v; want %q", got, err, msg)
		}
	}
}

func TestUDPLogger(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	start(t, func(ctx context.Context) error { return UDPLogger(ctx, pc, slog.New(slog.NewTextHandler(logs, nil))) })
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("ping-31415")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "data=ping-31415") {
		if time.Now().After(deadline) {
			t.Fatalf("datagram not logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMainUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no app", nil, 2},
		{"unknown app", []string{"nope"}, 2},
		{"bad flag", []string{"web", "-nope"}, 2},
		{"bad address", []string{"tcp-echo", "-addr", "256.0.0.1:1"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := Main(context.Background(), tt.args, &out, &errOut); got != tt.want {
				t.Errorf("Main(%q) = %d, want %d (stderr %q)", tt.args, got, tt.want, errOut.String())
			}
		})
	}
}
