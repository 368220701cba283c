// Package sample holds the sample workloads that the e2e cluster deploys
// (web, tcp-echo, udp-logger and an istio-proxy stand-in) and the values that
// tests compare against: ports, environment variables, the text of
// /app/test.txt and the exact HTTP answers. Keeping the apps and the expected
// values in one package means a test never hard-codes what a pod says.
//
// All apps are one static binary (e2e/apps/sampleapp) that dispatches on its
// first argument, so one build serves every image.
package sample

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Values the sample workloads expose; tests compare against these.
const (
	// TestFilePath is a file in the web image; GET /file serves it.
	TestFilePath = "/app/test.txt"
	// TestFileText is the content of TestFilePath.
	TestFileText = "mirrord e2e sample file: if you can read this, the remote file system works.\n"

	WebPort           = 80
	TCPEchoPort       = 7777
	UDPLoggerPort     = 31415
	UDPHealthPort     = 8081  // udp-logger's HTTP readiness endpoint
	SidecarHealthPort = 15021 // as istio-proxy's /healthz/ready
	// HealthPath answers 200 and is not logged, so probes do not fill the logs.
	HealthPath = "/healthz"

	EnvFirst       = "MIRRORD_FAKE_VAR_FIRST"
	EnvFirstValue  = "mirrord.is.running"
	EnvSecond      = "MIRRORD_FAKE_VAR_SECOND"
	EnvSecondValue = "7777"
	// EnvThird comes from a ConfigMap through envFrom.
	EnvThird      = "MIRRORD_FAKE_VAR_THIRD"
	EnvThirdValue = "foo=bar"
)

// WebResponse is the body the web app sends for a request to any path
// without a handler of its own, for example "GET from pod web-5d9f-abcde\n".
func WebResponse(method, hostname string) string {
	return method + " from pod " + hostname + "\n"
}

const usage = `usage: sampleapp <app> [flags]
apps:
  web         HTTP server: "<METHOD> from pod <hostname>", GET /file serves -file, GET /resolve?name=N
  tcp-echo    TCP echo server
  udp-logger  logs every datagram it receives
  sidecar     stand-in for istio-proxy: serves /healthz/ready and waits
run "sampleapp <app> -h" for the flags of one app`

// Main runs the app named by args[0] until ctx is done and returns the exit
// code. Logs go to stdout, usage errors to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stdout, nil)).With("app", args[0])
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var run func() error
	switch args[0] {
	case "web":
		addr := fs.String("addr", fmt.Sprintf(":%d", WebPort), "listen address")
		file := fs.String("file", TestFilePath, "file served at /file")
		run = func() error {
			ln, err := net.Listen("tcp", *addr)
			if err != nil {
				return err
			}
			return Web(ctx, ln, *file, log)
		}
	case "tcp-echo":
		addr := fs.String("addr", fmt.Sprintf(":%d", TCPEchoPort), "listen address")
		run = func() error {
			ln, err := net.Listen("tcp", *addr)
			if err != nil {
				return err
			}
			return TCPEcho(ctx, ln, log)
		}
	case "udp-logger":
		addr := fs.String("addr", fmt.Sprintf(":%d", UDPLoggerPort), "listen address (UDP)")
		health := fs.String("health", fmt.Sprintf(":%d", UDPHealthPort), "HTTP readiness address, empty for none")
		run = func() error {
			pc, err := net.ListenPacket("udp", *addr)
			if err != nil {
				return err
			}
			return withHealth(ctx, *health, HealthPath, log, func() error { return UDPLogger(ctx, pc, log) })
		}
	case "sidecar":
		health := fs.String("health", fmt.Sprintf(":%d", SidecarHealthPort), "HTTP readiness address")
		run = func() error {
			return withHealth(ctx, *health, "/healthz/ready", log, func() error { <-ctx.Done(); return nil })
		}
	default:
		fmt.Fprintf(stderr, "unknown app %q\n%s\n", args[0], usage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if err := run(); err != nil {
		log.Error("exit", "err", err)
		return 1
	}
	return 0
}

// Web serves the web app on ln until ctx is done.
func Web(ctx context.Context, ln net.Listener, file string, log *slog.Logger) error {
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("web: hostname: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(HealthPath, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		logRequest(log, r)
		http.ServeFile(w, r, file)
	})
	mux.HandleFunc("/resolve", func(w http.ResponseWriter, r *http.Request) {
		logRequest(log, r)
		resolve(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		logRequest(log, r)
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, WebResponse(r.Method, host))
	})
	log.Info("listening", "addr", ln.Addr().String(), "proto", "http, h2c, grpc")
	return serveHTTP(ctx, ln, H2CWithGRPC(mux, GRPCPodStatus))
}

// GRPCService is the gRPC health service name whose status tells who
// answered: the pod's web app says GRPCPodStatus, a test's local server
// another status.
const (
	GRPCService   = "whoami"
	GRPCPodStatus = healthpb.HealthCheckResponse_NOT_SERVING
)

// H2CWithGRPC serves h, and gRPC calls with the standard health service,
// where GRPCService reports status. Served by a server with Protocols
// (HTTP/1.1 and cleartext HTTP/2 with prior knowledge), it speaks all that
// incoming-traffic tests send to one port.
func H2CWithGRPC(h http.Handler, status healthpb.HealthCheckResponse_ServingStatus) http.Handler {
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus(GRPCService, status)
	healthpb.RegisterHealthServer(gs, hs)
	both := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
	return both
}

// Protocols are HTTP/1.1 and cleartext HTTP/2 (prior knowledge; net/http
// does not do the h2c Upgrade, and x/net's h2c handler no longer gets
// the HTTP/2 preface from net/http).
func Protocols() *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return p
}

func logRequest(log *slog.Logger, r *http.Request) {
	log.Info("request", "method", r.Method, "path", r.URL.RequestURI(), "remote", r.RemoteAddr, "host", r.Host)
}

// resolve answers GET /resolve?name=N with the addresses Go's resolver finds,
// one per line, so tests can check in-pod DNS including search domains.
func resolve(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, r.URL.Query().Get("name"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	io.WriteString(w, strings.Join(addrs, "\n")+"\n")
}

// serveHTTP runs an HTTP server on ln and shuts it down when ctx is done.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: Protocols()}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// withHealth runs main while an HTTP server on addr answers 200 at path;
// an empty addr runs main alone.
func withHealth(ctx context.Context, addr, path string, log *slog.Logger, main func() error) error {
	if addr == "" {
		return main()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	log.Info("listening", "addr", ln.Addr().String(), "proto", "http", "purpose", "health")
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- serveHTTP(ctx, ln, mux) }()
	err = main()
	cancel()
	if herr := <-errc; err == nil {
		err = herr
	}
	return err
}
