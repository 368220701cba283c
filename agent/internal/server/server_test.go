package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

const token = "tok-123"

type nopHandler struct{}

func (nopHandler) Call(context.Context, protocol.Kind, []byte) (any, error) {
	return protocol.HostnameResponse{Hostname: "h"}, nil
}
func (nopHandler) Stream(context.Context, protocol.StreamHeader, *protocol.ClientStream) {}

// agent runs Run on a loopback listener; done receives its result.
type agent struct {
	addr   string
	done   chan error
	cancel context.CancelFunc
	start  time.Time
}

func startAgent(t *testing.T, comm, ttl time.Duration) *agent {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &agent{addr: ln.Addr().String(), done: make(chan error, 1), cancel: cancel, start: time.Now()}
	go func() {
		a.done <- Run(ctx, ln, Options{
			TokenHash: protocol.TokenHash(token), Agent: "test", CommunicationTimeout: comm, IdleTTL: ttl,
			NewHandler: func(*protocol.ServerSession) protocol.Handler { return nopHandler{} },
			Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-a.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return a
}

func (a *agent) connect(t *testing.T, tok string) (*protocol.Client, error) {
	t.Helper()
	c, err := net.Dial("tcp", a.addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cl, err := protocol.NewClient(ctx, c, protocol.ClientOptions{Token: tok, Name: "test"})
	if err == nil {
		t.Cleanup(func() { cl.Close() })
		// A round trip proves the session is up on the agent's side.
		var r protocol.HostnameResponse
		if err := cl.Call(ctx, protocol.KindHostname, protocol.HostnameRequest{}, &r); err != nil {
			t.Fatalf("call: %v", err)
		}
	}
	return cl, err
}

// result waits for Run's result, at most d.
func (a *agent) result(t *testing.T, d time.Duration) (error, time.Duration, bool) {
	t.Helper()
	select {
	case err := <-a.done:
		a.done <- err // for the cleanup
		return err, time.Since(a.start), true
	case <-time.After(d):
		return nil, 0, false
	}
}

func TestNoClient(t *testing.T) {
	a := startAgent(t, 300*time.Millisecond, 0)
	// A client with a wrong token does not count as a client.
	if _, err := a.connect(t, "wrong"); !errors.Is(err, protocol.ErrRefused) || !strings.Contains(err.Error(), "token") {
		t.Fatalf("connect with a wrong token = %v; want refused", err)
	}
	err, took, ok := a.result(t, 5*time.Second)
	if !ok {
		t.Fatal("Run did not end without a client")
	}
	if !IsNoClient(err) || err.Error() != "no client connected within 0.3 s (agent.communication_timeout)" {
		t.Errorf("Run = %v; want the no-client error", err)
	}
	if took < 300*time.Millisecond {
		t.Errorf("gave up after %s; want the communication timeout", took)
	}
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		// run drives clients; it returns when the last one left.
		run     func(t *testing.T, a *agent)
		minLife time.Duration // after run returned
	}{
		{"exits when the only client leaves", 0, func(t *testing.T, a *agent) {
			c, _ := a.connect(t, token)
			c.Close()
		}, 0},
		{"stays while one of two clients remains", 0, func(t *testing.T, a *agent) {
			c1, _ := a.connect(t, token)
			c2, _ := a.connect(t, token)
			c1.Close()
			if _, _, ended := a.result(t, 300*time.Millisecond); ended {
				t.Fatal("Run ended while a client was still connected")
			}
			c2.Close()
		}, 0},
		{"idle TTL keeps it for a reconnect", 400 * time.Millisecond, func(t *testing.T, a *agent) {
			c, _ := a.connect(t, token)
			c.Close()
			time.Sleep(200 * time.Millisecond)
			c, _ = a.connect(t, token) // within the TTL: the same agent serves
			c.Close()
		}, 400 * time.Millisecond},
		{"communication timeout no longer applies once a client came", 0, func(t *testing.T, a *agent) {
			c, _ := a.connect(t, token)
			time.Sleep(500 * time.Millisecond) // beyond the 200 ms communication timeout
			c.Close()
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startAgent(t, 200*time.Millisecond, tt.ttl)
			tt.run(t, a)
			left := time.Now()
			err, _, ok := a.result(t, 5*time.Second)
			if !ok {
				t.Fatal("Run did not end after the last client left")
			}
			if err != nil {
				t.Errorf("Run = %v; want nil", err)
			}
			// The agent may see the client leave a little before Close
			// returns here, so allow a quarter of slack; without the TTL
			// Run ends within milliseconds.
			if life := time.Since(left); life < tt.minLife*3/4 {
				t.Errorf("Run ended %s after the last client left; want at least the idle TTL %s", life, tt.minLife)
			}
		})
	}
}

func TestCancelClosesSessions(t *testing.T) {
	a := startAgent(t, time.Minute, time.Hour)
	c, err := a.connect(t, token)
	if err != nil {
		t.Fatal(err)
	}
	a.cancel() // SIGTERM
	if err, _, ok := a.result(t, 5*time.Second); !ok || err != nil {
		t.Fatalf("Run after cancel = %v (ended %v); want nil promptly", err, ok)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the client's session did not end when the agent stopped")
	}
}

func TestDeadClientEndsItsSession(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		done <- Run(ctx, ln, Options{
			TokenHash: protocol.TokenHash(token), CommunicationTimeout: time.Minute, Heartbeat: 100 * time.Millisecond,
			NewHandler: func(*protocol.ServerSession) protocol.Handler { return nopHandler{} },
			Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// The client handshakes, then goes silent: it never answers a ping.
	frozen := newFreezable(raw)
	hctx, hcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer hcancel()
	cl, err := protocol.NewClient(hctx, frozen, protocol.ClientOptions{Token: token, Heartbeat: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	// Runs before cl.Close (cleanups are LIFO): Close waits for the reader.
	t.Cleanup(func() { close(frozen.released); raw.Close() })
	time.Sleep(100 * time.Millisecond) // let the session register
	close(frozen.frozen)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v; want nil after the dead client's session ended", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the agent did not notice its client died")
	}
}

// freezable stops reading and writing when frozen, as a vanished peer
// does, until released (at cleanup), when reads fail.
type freezable struct {
	net.Conn
	frozen, released chan struct{}
}

func newFreezable(c net.Conn) *freezable {
	return &freezable{Conn: c, frozen: make(chan struct{}), released: make(chan struct{})}
}

func (f *freezable) wait() error {
	select {
	case <-f.frozen:
		<-f.released
		return io.EOF
	default:
		return nil
	}
}

func (f *freezable) Read(p []byte) (int, error) {
	if err := f.wait(); err != nil {
		return 0, err
	}
	n, err := f.Conn.Read(p)
	if werr := f.wait(); werr != nil {
		return 0, werr
	}
	return n, err
}

func (f *freezable) Write(p []byte) (int, error) {
	select {
	case <-f.frozen:
		return len(p), nil // swallowed
	default:
	}
	return f.Conn.Write(p)
}
