//go:build linux

// Command mirrord-agent runs inside the cluster, next to the target pod, and
// serves mirrord clients over the API server's port-forward (see package
// agentmain).
package main

import (
	"os"

	"github.com/mirrord-go/mirrord/agent/internal/agentmain"
)

func main() {
	os.Exit(agentmain.Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
