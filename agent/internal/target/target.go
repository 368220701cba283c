//go:build linux

// Package target finds the process the agent works for: the main process
// of the target container, as a PID the agent can use in /proc. Everything
// the agent does on the target's behalf (env, hostname, DNS, dialing) reads
// /proc/<pid>/... or enters /proc/<pid>/ns/..., so this PID is the one fact
// the rest of the agent depends on.
//
// Targeted agents run on the target's node with hostPID and ask the
// container runtime through its CRI socket (mounted from the host under
// /host), falling back to scanning /proc/*/cgroup for the container id,
// which works with any runtime. Ephemeral agents share the target
// container's PID namespace, where the target is the oldest other process.
package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/config"
)

// Target is what the agent is attached to.
type Target struct {
	Mode config.Mode
	// PID is the target's main process in the agent's /proc; 0 when
	// targetless.
	PID int
	// Method says how PID was found, for the log.
	Method string
}

// CRISockets are the CRI endpoints tried in order, relative to the host
// root (the agent pod mounts the host's /run and /var under /host).
var CRISockets = []string{
	"/run/containerd/containerd.sock",
	"/run/k3s/containerd/containerd.sock",
	"/var/snap/microk8s/common/run/containerd.sock",
	"/run/k0s/containerd.sock",
	"/run/crio/crio.sock",
	"/var/run/crio/crio.sock",
}

// Finder finds targets. Its fields default to the paths of an agent pod;
// tests point them elsewhere.
type Finder struct {
	// HostRoot is where the host's filesystem is mounted ("/host").
	HostRoot string
	// Sockets overrides CRISockets (paths under HostRoot).
	Sockets []string
	// Proc is the procfs to scan ("/proc").
	Proc string
	// Self is the agent's own PID (os.Getpid()).
	Self int
	// CRITimeout bounds each CRI call (2 s).
	CRITimeout time.Duration
	Log        *slog.Logger
}

func (f *Finder) defaults() {
	if f.HostRoot == "" {
		f.HostRoot = "/host"
	}
	if f.Sockets == nil {
		f.Sockets = CRISockets
	}
	if f.Proc == "" {
		f.Proc = "/proc"
	}
	if f.Self == 0 {
		f.Self = os.Getpid()
	}
	if f.CRITimeout == 0 {
		f.CRITimeout = 2 * time.Second
	}
	if f.Log == nil {
		f.Log = slog.Default()
	}
}

// Find locates the target described by cfg.
func (f *Finder) Find(ctx context.Context, cfg config.Config) (Target, error) {
	f.defaults()
	switch cfg.Mode {
	case config.Targetless:
		return Target{Mode: cfg.Mode, Method: "none (targetless)"}, nil
	case config.Ephemeral:
		if id := cfg.ContainerID; id != "" {
			if pid, err := f.scanCgroups(id); err == nil {
				return f.found(Target{Mode: cfg.Mode, PID: pid, Method: "cgroup scan (shared PID namespace)"}), nil
			} else {
				f.Log.Warn("target container not found among the pod's processes; using the oldest process", "container_id", id, "err", err)
			}
		}
		pid, err := f.oldestOther()
		if err != nil {
			return Target{}, err
		}
		return f.found(Target{Mode: cfg.Mode, PID: pid, Method: "oldest process of the shared PID namespace"}), nil
	case config.Targeted:
		return f.findTargeted(ctx, cfg)
	}
	return Target{}, fmt.Errorf("unknown mode %q", cfg.Mode)
}

func (f *Finder) found(t Target) Target {
	f.Log.Info("target found", "mode", t.Mode, "pid", t.PID, "method", t.Method)
	return t
}

func (f *Finder) findTargeted(ctx context.Context, cfg config.Config) (Target, error) {
	pid, sock, criErr := f.criPID(ctx, cfg.ContainerID, cfg.Runtime)
	if criErr == nil {
		// The runtime gives host PIDs: without hostPID they mean nothing here.
		if _, err := os.Stat(filepath.Join(f.Proc, strconv.Itoa(pid))); err == nil {
			return f.found(Target{Mode: cfg.Mode, PID: pid, Method: "CRI ContainerStatus at " + sock}), nil
		}
		criErr = fmt.Errorf("%s gave pid %d, which is not in %s (is the agent pod hostPID?)", sock, pid, f.Proc)
	}
	f.Log.Info("the container runtime did not give the target's PID; scanning /proc cgroups", "container_id", cfg.ContainerID, "reason", criErr)
	pid, scanErr := f.scanCgroups(cfg.ContainerID)
	if scanErr == nil {
		return f.found(Target{Mode: cfg.Mode, PID: pid, Method: "cgroup scan of " + f.Proc}), nil
	}
	return Target{}, fmt.Errorf("cannot find the process of container %s: %v; %v (the agent needs hostPID and the host's /run and /var mounted at %s/run and %s/var)",
		cfg.ContainerID, criErr, scanErr, f.HostRoot, f.HostRoot)
}

// scanCgroups returns the oldest process whose cgroup path names the
// container id: the container's init, the process the runtime started.
func (f *Finder) scanCgroups(id string) (int, error) {
	if len(id) < 12 {
		return 0, fmt.Errorf("container id %q is too short to search for", id)
	}
	procs, err := f.processes()
	if err != nil {
		return 0, err
	}
	best := proc{}
	for _, p := range procs {
		if p.pid == f.Self {
			continue
		}
		cg, err := os.ReadFile(filepath.Join(f.Proc, strconv.Itoa(p.pid), "cgroup"))
		if err != nil || !strings.Contains(string(cg), id) {
			continue
		}
		if best.pid == 0 || p.older(best) {
			best = p
		}
	}
	if best.pid == 0 {
		return 0, fmt.Errorf("no process in %s has container %s in its cgroup", f.Proc, id)
	}
	return best.pid, nil
}

// oldestOther returns the oldest process other than the agent and its
// children: in an ephemeral container that is the target container's init.
func (f *Finder) oldestOther() (int, error) {
	procs, err := f.processes()
	if err != nil {
		return 0, err
	}
	best := proc{}
	for _, p := range procs {
		if p.pid == f.Self || p.ppid == f.Self {
			continue
		}
		if best.pid == 0 || p.older(best) {
			best = p
		}
	}
	if best.pid == 0 {
		return 0, fmt.Errorf("no process other than the agent in %s: is the agent an ephemeral container with targetContainerName set?", f.Proc)
	}
	return best.pid, nil
}

type proc struct {
	pid, ppid int
	start     uint64 // clock ticks after boot
}

func (p proc) older(q proc) bool {
	if p.start != q.start {
		return p.start < q.start
	}
	return p.pid < q.pid
}

// processes lists the processes of f.Proc with their parent and start time.
func (f *Finder) processes() ([]proc, error) {
	entries, err := os.ReadDir(f.Proc)
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(f.Proc, e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		p, err := parseStat(pid, string(data))
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// parseStat reads the parent and start time from /proc/<pid>/stat. The
// command name may hold spaces and parentheses, so fields are counted from
// the last ')'.
func parseStat(pid int, s string) (proc, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return proc{}, errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return proc{}, errors.New("malformed stat")
	}
	ppid, err := strconv.Atoi(f[1]) // field 4
	if err != nil {
		return proc{}, err
	}
	start, err := strconv.ParseUint(f[19], 10, 64) // field 22
	if err != nil {
		return proc{}, err
	}
	return proc{pid: pid, ppid: ppid, start: start}, nil
}
