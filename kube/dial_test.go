package kube

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	httpstream "k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// pfServer is a stand-in for the API server's pods/portforward: it speaks
// the SPDY port-forward protocol and forwards each data stream to
// 127.0.0.1:<port> on this host, reporting dial failures on the error
// stream as the kubelet does. It refuses websocket upgrades, so clients
// fall back to SPDY as with an older API server.
type pfServer struct {
	srv      *httptest.Server
	upgrades atomic.Int32 // SPDY upgrade requests
	failNext atomic.Int32 // answer this many upgrades with 500
	status   atomic.Int32 // when set, answer every upgrade with it
	wg       sync.WaitGroup
}

func newPFServer(t *testing.T) *pfServer {
	s := &pfServer{}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.srv.CloseClientConnections()
		s.srv.Close()
		// spdystream's Stream.Close can block for good once the client
		// connection is gone (seen under load); the fake must not hang the
		// test binary, so its forwarders get a bounded wait.
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Log("fake port-forward server: a forwarder is stuck in spdystream Close; not waiting for it")
		}
	})
	return s
}

func (s *pfServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		http.Error(w, "websocket not supported here", http.StatusBadRequest)
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/api/v1/namespaces/ns/pods/agent-pod/portforward") {
		http.Error(w, "unexpected path "+r.URL.Path, http.StatusNotFound)
		return
	}
	s.upgrades.Add(1)
	if code := s.status.Load(); code != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(code))
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"agent-pod\" is forbidden","reason":"Forbidden","code":%d}`, code)
		return
	}
	if s.failNext.Load() > 0 {
		s.failNext.Add(-1)
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	}
	if _, err := httpstream.Handshake(r, w, []string{"portforward.k8s.io"}); err != nil {
		return
	}
	var mu sync.Mutex
	pairs := map[string][2]httpstream.Stream{}
	conn := spdy.NewResponseUpgrader().UpgradeResponse(w, r, func(st httpstream.Stream, _ <-chan struct{}) error {
		id := st.Headers().Get(corev1.PortForwardRequestIDHeader)
		mu.Lock()
		defer mu.Unlock()
		p := pairs[id]
		if st.Headers().Get(corev1.StreamType) == corev1.StreamTypeError {
			p[1] = st
		} else {
			p[0] = st
		}
		pairs[id] = p
		if p[0] != nil && p[1] != nil {
			delete(pairs, id)
			s.wg.Add(1)
			go s.forward(p[0], p[1])
		}
		return nil
	})
	if conn == nil {
		return
	}
	<-conn.CloseChan()
}

func (s *pfServer) forward(data, errStream httpstream.Stream) {
	defer s.wg.Done()
	defer data.Close()
	defer errStream.Close()
	port := data.Headers().Get(corev1.PortHeader)
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintf(errStream, "error forwarding port %s to pod agent-pod: %v", port, err)
		data.Reset()
		return
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(c, data)
		c.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(data, c)
	<-done
}

// echoServer echoes every connection; it returns its port.
func echoServer(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// closedPort is a port nothing listens on.
func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func testAgent(s *pfServer, port int) *Agent {
	c := &Client{Config: &rest.Config{Host: s.srv.URL}}
	return &Agent{Name: "agent", Namespace: "ns", Pod: "agent-pod", Port: port, c: c}
}

func TestDialEcho(t *testing.T) {
	s := newPFServer(t)
	a := testAgent(s, echoServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Several dials: each is its own connection and stream pair.
	for i := range 3 {
		conn, err := a.Dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msg := "hello " + strconv.Itoa(i)
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != msg {
			t.Fatalf("read %q, %v; want %q", buf, err, msg)
		}
		if got := conn.RemoteAddr().String(); got != "ns/agent-pod:"+strconv.Itoa(a.Port) {
			t.Errorf("RemoteAddr = %q", got)
		}
		if err := conn.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if n := s.upgrades.Load(); n != 3 {
		t.Errorf("%d upgrades for 3 dials", n)
	}
}

// The kubelet's complaint (nothing listening) is the conn's read error.
func TestDialErrorStreamSurfaces(t *testing.T) {
	s := newPFServer(t)
	a := testAgent(s, closedPort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := a.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.Read(make([]byte, 10))
	if err == nil || !strings.Contains(err.Error(), "error forwarding port") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("read error = %v, want the port-forward's error message", err)
	}
}

func TestDialRetries(t *testing.T) {
	tests := []struct {
		name     string
		failNext int32
		status   int32
		wantErr  string
		upgrades int32
	}{
		{name: "transient failures are retried", failNext: 2, upgrades: 3},
		{name: "too many failures", failNext: 100, wantErr: "(5 attempts)", upgrades: 5},
		{name: "forbidden is not retried", status: http.StatusForbidden, wantErr: "forbidden", upgrades: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newPFServer(t)
			s.failNext.Store(tt.failNext)
			s.status.Store(tt.status)
			a := testAgent(s, echoServer(t))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := a.Dial(ctx)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				conn.Close()
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "agent ns/agent-pod port") {
				t.Fatalf("error %v, want one naming the agent and %q", err, tt.wantErr)
			}
			if n := s.upgrades.Load(); n != tt.upgrades {
				t.Errorf("%d upgrade attempts, want %d", n, tt.upgrades)
			}
		})
	}
}

func TestDialCancelled(t *testing.T) {
	s := newPFServer(t)
	s.failNext.Store(100)
	a := testAgent(s, echoServer(t))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := a.Dial(ctx); err == nil {
		t.Fatal("Dial succeeded")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("cancelled Dial took %s", took)
	}
}
