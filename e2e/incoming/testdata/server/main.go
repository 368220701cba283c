// Command server is the developer's local app in the incoming-traffic e2e
// tests. It answers HTTP/1.1, h2c and gRPC on one port as "local", and
// prints one JSON line per accepted connection, per request and per closed
// connection (with the bytes it read), so a test counts exactly what
// reached it and from which peer accept() said it came.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
)

var outMu sync.Mutex

func emit(v map[string]any) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

type countedConn struct {
	net.Conn
	n    atomic.Int64
	once sync.Once
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countedConn) Close() error {
	c.once.Do(func() { emit(map[string]any{"ev": "close", "peer": c.RemoteAddr().String(), "bytes": c.n.Load()}) })
	return c.Conn.Close()
}

type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	emit(map[string]any{"ev": "accept", "peer": c.RemoteAddr().String(), "local": c.LocalAddr().String()})
	return &countedConn{Conn: c}, nil
}

func main() {
	addr := flag.String("addr", ":80", "listen address")
	name := flag.String("name", "local", "name in every answer")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	emit(map[string]any{"ev": "listening", "addr": ln.Addr().String()})
	mux := http.NewServeMux()
	var srv *http.Server
	// Serve returns as soon as Shutdown begins: main waits on shutDown,
	// or the process would exit with the in-flight requests unanswered.
	shutDown := make(chan struct{})
	var quit sync.Once
	// GET /quit exits gracefully (in-flight requests finish), the way a
	// developer stops the app, without signalling mirrord itself.
	mux.HandleFunc("/quit", func(w http.ResponseWriter, r *http.Request) {
		emit(map[string]any{"ev": "quit", "peer": r.RemoteAddr})
		fmt.Fprintf(w, "LOCAL %s bye\n", *name)
		quit.Do(func() {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = srv.Shutdown(ctx)
				close(shutDown)
			}()
		})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		emit(map[string]any{"ev": "req", "proto": r.Proto, "method": r.Method, "path": r.URL.RequestURI(),
			"peer": r.RemoteAddr, "test": r.Header.Get("x-mirrord-test"), "ua": r.UserAgent()})
		fmt.Fprintf(w, "LOCAL %s %s\n", *name, r.URL.Path)
	})
	srv = &http.Server{Handler: sample.H2CWithGRPC(mux, healthpb.HealthCheckResponse_SERVING), Protocols: sample.Protocols()}
	closed := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		srv.Close()
		close(closed)
	}()
	if err := srv.Serve(countingListener{ln}); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
	select {
	case <-shutDown:
	case <-closed:
	}
}
