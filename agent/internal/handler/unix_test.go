//go:build linux

package handler

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

func TestUnixStream(t *testing.T) {
	dir, err := os.MkdirTemp("", "mrdu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "app.sock")
	abstract := fmt.Sprintf("@mirrord-handler-test-%d", os.Getpid())
	for _, name := range []string{sock, abstract} {
		ln, err := net.Listen("unix", name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					b, _ := io.ReadAll(c)
					fmt.Fprintf(c, "got %s", b)
				}()
			}
		}()
	}
	// Targetless: the agent's own filesystem and network namespace are the
	// "target's".
	cl := connect(t, New("9.9.9", "targetless", 0, false, 0, 0, quiet))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tests := []struct {
		name, addr, want string
		refused          bool
	}{
		{"path", sock, "got ping", false},
		{"abstract name", abstract, "got ping", false},
		{"missing", filepath.Join(dir, "nope.sock"), "no such file", true},
		{"relative", "app.sock", "not absolute", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := cl.Open(ctx, protocol.StreamHeader{Kind: protocol.StreamUnix, Addr: tt.addr})
			if tt.refused {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Open = %v, want a refusal containing %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			b, err := io.ReadAll(c)
			if err != nil || string(b) != tt.want {
				t.Fatalf("read %q, %v; want %q", b, err, tt.want)
			}
		})
	}
}
