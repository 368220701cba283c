//go:build linux

// Command cluster runs the local Kubernetes cluster of the e2e suites:
// up, down [--wipe], status, check-clean and kubeconfig. The Make targets
// (make cluster, cluster-down, ...) call it; all logic is in package cluster.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mirrord-go/mirrord/e2e/cluster"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cluster.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
