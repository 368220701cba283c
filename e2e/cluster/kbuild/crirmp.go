package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// criRmp stops and removes every pod sandbox, like `crictl rmp -fa`, so that
// containerd runs CNI DEL (veths, IPAM, CNI-* chains) and ends the shims
// before the harness stops containerd itself.
func criRmp(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: k8s cri-rmp unix:///path/to/containerd.sock")
		return 2
	}
	conn, err := grpc.NewClient(args[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-rmp: dial %s: %v\n", args[0], err)
		return 1
	}
	defer conn.Close()
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := rs.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "cri-rmp: list sandboxes: %v\n", err)
		return 1
	}
	rc := 0
	for _, s := range resp.Items {
		name := s.Metadata.Namespace + "/" + s.Metadata.Name
		if _, err := rs.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-rmp: stop %s: %v\n", name, err)
			rc = 1
		}
		if _, err := rs.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			fmt.Fprintf(os.Stderr, "cri-rmp: remove %s: %v\n", name, err)
			rc = 1
		}
		fmt.Printf("removed sandbox %s %s\n", s.Id[:12], name)
	}
	return rc
}
