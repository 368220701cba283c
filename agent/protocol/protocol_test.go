package protocol

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const testToken = "s3cret"

// testHandler answers env and echoes TCP streams; fs.stat fails with ENOENT.
type testHandler struct {
	sess   *ServerSession
	closed chan struct{}
}

func (h *testHandler) Close() error {
	if h.closed != nil {
		close(h.closed)
	}
	return nil
}

func (h *testHandler) Call(ctx context.Context, kind Kind, body []byte) (any, error) {
	switch kind {
	case KindEnv:
		return EnvResponse{Vars: []EnvVar{{Name: "A", Value: "1"}, {Name: "B", Value: "x=y"}}}, nil
	case KindStat:
		return nil, &net.OpError{Op: "stat", Err: syscall.ENOENT}
	case KindHostname:
		// Pushes an event before answering, to prove events and replies mix.
		_ = h.sess.Notify(EventLog, LogEvent{Level: "info", Msg: "hello"})
		return HostnameResponse{Hostname: "pod-1"}, nil
	}
	return nil, Errorf(CodeUnsupported, "unknown request %s", kind)
}

func (h *testHandler) Stream(ctx context.Context, hdr StreamHeader, s *ClientStream) {
	switch hdr.Kind {
	case StreamTCP:
		_ = s.Accept("10.0.0.1:1234", hdr.Addr)
		_, _ = io.Copy(s, s)
		s.Close()
	case StreamUDP:
		_ = s.Accept("", hdr.Addr)
		d := NewDatagramConn(s.Conn)
		buf := make([]byte, 100)
		for {
			n, err := d.Read(buf)
			if err != nil {
				return
			}
			_, _ = d.Write([]byte(strings.ToUpper(string(buf[:n]))))
		}
	}
}

// pair runs a server on one end of a TCP loopback connection and returns
// the client end.
func pair(t *testing.T, opts ServerOptions) (net.Conn, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		done <- Serve(ctx, c, opts, func(s *ServerSession) Handler { return &testHandler{sess: s} })
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return c, done
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name     string
		token    string
		versions []uint16
		wantErr  string
	}{
		{"ok", testToken, nil, ""},
		{"no token", "", nil, "missing or wrong session token"},
		{"wrong token", "guess", nil, "missing or wrong session token"},
		{"no common version", testToken, []uint16{99}, "no common protocol version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, done := pair(t, ServerOptions{TokenHash: TokenHash(testToken), Agent: "test", Versions: tt.versions})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := NewClient(ctx, conn, ClientOptions{Token: tt.token, Name: "t"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewClient: %v", err)
				}
				if c.Version() != Version || c.Agent() != "test" {
					t.Errorf("version %d agent %q", c.Version(), c.Agent())
				}
				c.Close()
				if err := <-done; err != nil {
					t.Errorf("server after a normal close: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want refusal with %q", err, tt.wantErr)
			}
			if err := <-done; err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("server err = %v", err)
			}
		})
	}
}

func TestHandshakeGarbage(t *testing.T) {
	conn, done := pair(t, ServerOptions{TokenHash: TokenHash(testToken), HandshakeTimeout: time.Second})
	if _, err := conn.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("server accepted garbage")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not drop a client that sent garbage")
	}
}

func client(t *testing.T, opts ClientOptions) *Client {
	t.Helper()
	conn, _ := pair(t, ServerOptions{TokenHash: TokenHash(testToken), Agent: "test"})
	opts.Token = testToken
	c, err := NewClient(context.Background(), conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestCalls(t *testing.T) {
	var events atomic.Int32
	c := client(t, ClientOptions{OnEvent: func(k Kind, b []byte) bool {
		if k == EventLog {
			events.Add(1)
		}
		return true
	}})
	ctx := context.Background()
	env, err := c.Env(ctx)
	if err != nil || len(env) != 2 || env[1] != (EnvVar{Name: "B", Value: "x=y"}) {
		t.Fatalf("Env = %v, %v", env, err)
	}
	var hn HostnameResponse
	if err := c.Call(ctx, KindHostname, HostnameRequest{}, &hn); err != nil || hn.Hostname != "pod-1" {
		t.Fatalf("hostname = %v, %v", hn, err)
	}
	if events.Load() != 1 {
		t.Errorf("events = %d, want 1", events.Load())
	}
	err = c.Call(ctx, KindStat, StatRequest{Path: "/nope"}, nil)
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != CodeNotFound {
		t.Fatalf("stat err = %#v", err)
	}
	if e, ok := pe.AsErrno(); !ok || e != syscall.ENOENT {
		t.Errorf("errno = %v", e)
	}
	err = c.Call(ctx, "bogus", Empty{}, nil)
	if !errors.As(err, &pe) || pe.Code != CodeUnsupported {
		t.Errorf("unknown kind err = %v", err)
	}
}

func TestStreams(t *testing.T) {
	c := client(t, ClientOptions{})
	ctx := context.Background()
	tcp, err := c.DialTCP(ctx, "web:80")
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.Repeat("x", 300_000) // larger than a yamux window
	go func() {
		_, _ = io.WriteString(tcp, msg)
		tcp.(interface{ CloseWrite() error }).CloseWrite()
	}()
	got, err := io.ReadAll(tcp)
	if err != nil || string(got) != msg {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	udp, err := c.DialUDP(ctx, "dns:53")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for _, d := range []string{"one", "two"} {
		if _, err := udp.Write([]byte(d)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		n, err := udp.Read(buf)
		if err != nil || string(buf[:n]) != strings.ToUpper(d) {
			t.Fatalf("datagram %q: %q %v", d, buf[:n], err)
		}
	}
	if _, _, err := c.Open(ctx, StreamHeader{Kind: "nope"}); err == nil {
		t.Fatal("unknown stream kind accepted")
	}
}

// blackhole forwards bytes until cut, then swallows writes and never
// delivers reads: a peer that vanished without closing.
type blackhole struct {
	net.Conn
	cut atomic.Bool
}

func (b *blackhole) Write(p []byte) (int, error) {
	if b.cut.Load() {
		return len(p), nil
	}
	return b.Conn.Write(p)
}

func TestHeartbeatDetectsDeadPeer(t *testing.T) {
	conn, _ := pair(t, ServerOptions{TokenHash: TokenHash(testToken), Heartbeat: time.Hour})
	bh := &blackhole{Conn: conn}
	c, err := NewClient(context.Background(), bh, ClientOptions{Token: testToken, Heartbeat: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	bh.cut.Store(true)
	select {
	case <-c.Done():
		if c.Err() == nil {
			t.Error("session ended without a reason")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dead peer not detected within 5s with a 100ms heartbeat")
	}
	if err := c.Call(context.Background(), KindEnv, EnvRequest{}, nil); err == nil {
		t.Fatal("call on a dead session succeeded")
	}
}

func TestHandlerClosedAfterSession(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	closed := make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_ = Serve(context.Background(), c, ServerOptions{TokenHash: TokenHash(testToken)},
			func(s *ServerSession) Handler { return &testHandler{sess: s, closed: closed} })
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), conn, ClientOptions{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Env(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("handler not closed after the session ended")
	}
}
