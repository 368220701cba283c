// Command sampleapp is every sample workload of the e2e cluster in one static
// binary (web, tcp-echo, udp-logger, the istio-proxy stand-in), so one build
// serves every image. The first argument picks the app; see package sample.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := sample.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
