package httpsteal

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// grpcHealthApp is a gRPC server with the standard health service, where
// the status of service "svc" tells the apps apart.
func grpcHealthApp(t *testing.T, name string, svc healthpb.HealthCheckResponse_ServingStatus) (*Destination, *health.Server) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("svc", svc)
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	d := NewDestination(name, func(ctx context.Context) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "tcp", ln.Addr().String())
	})
	t.Cleanup(func() { d.CloseIdle(); srv.Stop(); <-done })
	return d, hs
}

func TestServeGRPCHealth(t *testing.T) {
	checkLeaks(t)
	original, _ := grpcHealthApp(t, "original", healthpb.HealthCheckResponse_NOT_SERVING)
	local, localHealth := grpcHealthApp(t, "local", healthpb.HealthCheckResponse_SERVING)
	steal := newSteal(t, Options{
		Original: original,
		// gRPC metadata are HTTP/2 headers.
		Pick: pickByFilter(t, protocol.HTTPFilter{AllOf: []protocol.HTTPFilter{
			{Header: "^x-mirrord-user: me$"}, {Path: "^/grpc.health.v1.Health/"},
		}}, local),
	})
	cc, err := grpc.NewClient("passthrough:///"+steal.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	client := healthpb.NewHealthClient(cc)
	mine := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "x-mirrord-user", "me")
	}

	tests := []struct {
		name     string
		ctx      func(context.Context) context.Context
		service  string
		want     healthpb.HealthCheckResponse_ServingStatus
		wantCode codes.Code
	}{
		{"with metadata to local", mine, "svc", healthpb.HealthCheckResponse_SERVING, codes.OK},
		{"without metadata to original", func(c context.Context) context.Context { return c }, "svc", healthpb.HealthCheckResponse_NOT_SERVING, codes.OK},
		{"error status in trailers", mine, "unknown", 0, codes.NotFound},
		{"other metadata to original", func(c context.Context) context.Context {
			return metadata.AppendToOutgoingContext(c, "x-mirrord-user", "you")
		}, "svc", healthpb.HealthCheckResponse_NOT_SERVING, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp, err := client.Check(tt.ctx(ctx), &healthpb.HealthCheckRequest{Service: tt.service})
			if code := status.Code(err); code != tt.wantCode {
				t.Fatalf("Check: %v, want code %v", err, tt.wantCode)
			}
			if err == nil && resp.Status != tt.want {
				t.Errorf("status %v, want %v", resp.Status, tt.want)
			}
		})
	}

	t.Run("server streaming is flushed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w, err := client.Watch(mine(ctx), &healthpb.HealthCheckRequest{Service: "svc"})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []healthpb.HealthCheckResponse_ServingStatus{
			healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING,
		} {
			resp, err := w.Recv()
			if err != nil {
				t.Fatalf("Recv %d: %v", i, err)
			}
			if resp.Status != want {
				t.Fatalf("Recv %d: %v, want %v", i, resp.Status, want)
			}
			// The stream stays open: the next message only comes
			// after the change, and must arrive unbuffered.
			localHealth.SetServingStatus("svc", healthpb.HealthCheckResponse_NOT_SERVING)
		}
	})
}
