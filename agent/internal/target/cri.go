//go:build linux

package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/mirrord-go/mirrord/agent/internal/config"
)

// criPID asks each CRI socket that exists for the container's PID and
// returns the first answer with the socket that gave it.
func (f *Finder) criPID(ctx context.Context, id, runtime string) (int, string, error) {
	var tried []string
	for _, rel := range f.socketOrder(runtime) {
		sock := filepath.Join(f.HostRoot, rel)
		if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
			continue
		}
		pid, err := f.criContainerPID(ctx, sock, id)
		if err == nil {
			return pid, sock, nil
		}
		f.Log.Debug("CRI socket did not give the PID", "socket", sock, "err", err)
		tried = append(tried, fmt.Sprintf("%s: %v", sock, err))
	}
	if len(tried) == 0 {
		return 0, "", fmt.Errorf("no CRI socket found under %s (tried %s)", f.HostRoot, strings.Join(f.Sockets, ", "))
	}
	return 0, "", fmt.Errorf("no CRI socket knows the container (%s)", strings.Join(tried, "; "))
}

// socketOrder puts the sockets of the named runtime first.
func (f *Finder) socketOrder(runtime string) []string {
	if runtime != config.RuntimeCRIO {
		return f.Sockets
	}
	out := slices.Clone(f.Sockets)
	slices.SortStableFunc(out, func(a, b string) int {
		ac, bc := strings.Contains(a, "crio"), strings.Contains(b, "crio")
		switch {
		case ac && !bc:
			return -1
		case bc && !ac:
			return 1
		}
		return 0
	})
	return out
}

// criContainerPID calls ContainerStatus with Verbose on one socket. The
// PID is in the verbose info: containerd puts it in info["info"] (a JSON
// object with "pid"); CRI-O has used both info["pid"] and info["info"].
func (f *Finder) criContainerPID(ctx context.Context, sock, id string) (int, error) {
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, f.CRITimeout)
	defer cancel()
	resp, err := runtimeapi.NewRuntimeServiceClient(conn).ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: id, Verbose: true})
	if err != nil {
		return 0, fmt.Errorf("ContainerStatus: %w", err)
	}
	if st := resp.GetStatus(); st != nil && st.GetState() != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return 0, fmt.Errorf("container %s is %s, not running", id, st.GetState())
	}
	return pidFromInfo(resp.GetInfo())
}

func pidFromInfo(info map[string]string) (int, error) {
	if v, ok := info["pid"]; ok {
		if pid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && pid > 0 {
			return pid, nil
		}
	}
	raw, ok := info["info"]
	if !ok {
		return 0, errors.New("the verbose status has no \"info\" entry")
	}
	var v struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return 0, fmt.Errorf("decoding the verbose status info: %w", err)
	}
	if v.PID <= 0 {
		return 0, errors.New("the verbose status info has no pid")
	}
	return v.PID, nil
}
