//go:build linux

package incoming

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/testns"
	"github.com/mirrord-go/mirrord/agent/protocol"
)

// streamClient is a session whose mirror streams are pipes the test reads.
type streamClient struct{ streams chan net.Conn }

func (c streamClient) Open(context.Context, protocol.StreamHeader) (net.Conn, error) {
	ours, theirs := net.Pipe()
	c.streams <- ours
	return theirs, nil
}

// TestMirrorSessionsOneAfterAnother: the sniffer is the agent's, not its
// first session's; a session that mirrors after another one ended (its
// request context gone) still gets copies.
func TestMirrorSessionsOneAfterAnother(t *testing.T) {
	ns := nsenter.FromPath(testns.New(t).Path, nsenter.Net)
	var ln net.Listener
	if err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // the pod's app: reads each connection to its end
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	m := New(Options{NS: ns, Owner: "test"})
	t.Cleanup(func() { m.Close() })

	for i, msg := range []string{"first session", "second session"} {
		c := streamClient{streams: make(chan net.Conn, 4)}
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := m.Subscribe(ctx, c, protocol.SubscribeRequest{Port: port, Mode: protocol.ModeMirror}); err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
		cancel() // the request is over, as a session's request context ends
		conn, err := nsenter.Dialer{NS: ns}.Dial(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, msg); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		select {
		case st := <-c.streams:
			_ = st.SetDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(st)
			if string(got) != msg {
				t.Fatalf("session %d: copy %q (%v), want %q", i+1, got, err, msg)
			}
			st.Close()
		case <-time.After(10 * time.Second):
			t.Fatalf("session %d got no copy of a connection to its mirrored port", i+1)
		}
		m.Release(c)
	}
}
