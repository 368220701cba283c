//go:build linux

// Package cluster runs the real single-node Kubernetes cluster that the e2e
// suites and the demo use, on this machine, with no registry and no download
// site: mirrord exists to connect a local process to a cluster, so every
// feature has to be proven against one.
//
// It builds the Kubernetes components from the Go module proxy (the separate
// modules in kbuild/ and corednsbuild/), builds the container images from
// static Go programs (package agent/image), generates the certificates,
// starts etcd, containerd, kube-apiserver, kube-controller-manager,
// kube-scheduler, kubelet and kube-proxy as background processes with
// recorded PIDs, deploys CoreDNS and the sample workloads, and creates the
// "laptop" network namespace from which only the API server is reachable.
// All state lives under one directory (Dir); the user's ~/.kube/config is
// never touched.
//
// One file per concern: build.go, pki.go, config.go, processes.go,
// images.go, workloads.go, netns.go, down.go and status.go. This file holds
// the layout and Up, which runs them in order.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Facts about the cluster that tests and later issues rely on.
const (
	// DefaultDir is the state directory unless CLUSTER_DIR says otherwise.
	DefaultDir = "/var/tmp/mirrord-e2e-cluster"
	// KubeVersion is the Kubernetes release built by kbuild/.
	KubeVersion = "v1.36.3"
	// NodeName is the name of the only node.
	NodeName = "mirrord-e2e"
	// Namespace holds the sample workloads.
	Namespace = "mirrord-e2e"
	// LaptopNetns is the network namespace that stands for a developer's
	// machine: it reaches the API server and nothing else of the cluster.
	LaptopNetns = "mirrord-laptop"

	PodCIDR      = "10.244.0.0/24"
	ClusterCIDR  = "10.244.0.0/16"
	ServiceCIDR  = "10.96.0.0/16"
	APIServiceIP = "10.96.0.1"
	DNSServiceIP = "10.96.0.10"
	APIPort      = 6443
	// Bridge is the CNI bridge on the host.
	Bridge = "cni0"
	// ContainerdSocket is where the cluster's containerd serves: the
	// standard path, which the mirrord agent finds through its /host/run
	// mount as it would on a real node. It is the one path of the cluster
	// outside the state directory that `up` creates, and `down` removes it.
	ContainerdSocket = "/run/containerd/containerd.sock"
)

// DirFromEnv returns $CLUSTER_DIR, or DefaultDir when it is unset.
func DirFromEnv() string {
	if d := os.Getenv("CLUSTER_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// Cluster is the local cluster whose state lives in Dir.
type Cluster struct {
	// Dir is the absolute state directory.
	Dir string
	// SrcDir is the repository root; only building needs it.
	SrcDir string
	// NodeIP is the host address the node registers and the laptop netns
	// reaches; empty means the address of the default route's interface.
	NodeIP string
	// Wait bounds each wait for a component or workload to become ready.
	Wait time.Duration
	// Log receives progress; component logs go to files under Dir/logs.
	Log *slog.Logger
	// Out receives the few lines meant for the user (kubeconfig path, status).
	Out io.Writer

	t0      time.Time // start of Up, for the elapsed times in progress lines
	version string    // the repository's VERSION, read by Up
}

// since is the elapsed time of Up, for progress lines.
func (c *Cluster) since() time.Duration { return time.Since(c.t0).Round(10 * time.Millisecond) }

// New returns a Cluster in dir with default settings.
func New(dir string) (*Cluster, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("cluster dir %q must be an absolute path", dir)
	}
	return &Cluster{
		Dir:  filepath.Clean(dir),
		Wait: 120 * time.Second,
		Log:  slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Out:  os.Stdout,
	}, nil
}

func (c *Cluster) path(elem ...string) string {
	return filepath.Join(append([]string{c.Dir}, elem...)...)
}

// Kubeconfig is the admin kubeconfig for use on this host (server 127.0.0.1).
func (c *Cluster) Kubeconfig() string { return c.path("kubeconfig") }

// LaptopKubeconfig is the admin kubeconfig for use inside LaptopNetns
// (server https://<node IP>:6443).
func (c *Cluster) LaptopKubeconfig() string { return c.path("laptop.kubeconfig") }

// Kubectl is the kubectl the harness builds; the one on PATH may be another version.
func (c *Cluster) Kubectl() string { return c.path("bin", "kubectl") }

func (c *Cluster) k8sBin() string         { return c.path("bin", "k8s") }
func (c *Cluster) containerdSock() string { return ContainerdSocket }
func (c *Cluster) logFile(name string) string {
	return c.path("logs", name+".log")
}

// Up builds what is missing or stale, starts every component that is not
// running, imports changed images, creates the laptop netns, applies the
// workloads and waits until all of them are Ready. When everything already
// runs it changes nothing.
func (c *Cluster) Up(ctx context.Context) error {
	c.t0 = time.Now()
	if err := Preflight(); err != nil {
		return err
	}
	for _, d := range []string{"bin", "build", "images", "pki", "run", "state", "logs", "pids"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			return fmt.Errorf("create state dir: %w", err)
		}
	}
	if err := c.resolveNodeIP(); err != nil {
		return err
	}
	if c.SrcDir == "" {
		return errors.New("build: the repository root is unknown (run from the repository or pass --src)")
	}
	v, err := RepoVersion(c.SrcDir)
	if err != nil {
		return err
	}
	c.version = v
	if err := c.Build(ctx); err != nil {
		return err
	}
	if err := c.BuildImages(ctx); err != nil {
		return err
	}
	if err := c.ensurePKI(); err != nil {
		return err
	}
	if err := c.renderConfigs(); err != nil {
		return err
	}
	nodeRestarted, err := c.startAll(ctx)
	if err != nil {
		return err
	}
	if err := c.ensureNetns(ctx); err != nil {
		return err
	}
	if err := c.deploy(ctx, nodeRestarted); err != nil {
		return err
	}
	c.Log.Info("cluster ready", "took", c.since())
	fmt.Fprintf(c.Out, "KUBECONFIG=%s\n", c.Kubeconfig())
	return nil
}

// Preflight fails with the reason when this machine cannot run the cluster:
// it needs Linux, root, cgroups, overlayfs and the Debian packages of `make deps`.
func Preflight() error {
	if os.Geteuid() != 0 {
		return errors.New("the e2e cluster needs root: it runs containerd, kubelet and iptables (run 'sudo make cluster')")
	}
	mounts, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return fmt.Errorf("read mounts: %w", err)
	}
	if !hasCgroups(string(mounts)) {
		return errors.New("the e2e cluster needs cgroups: no cgroup or cgroup2 filesystem is mounted under /sys/fs/cgroup")
	}
	fsys, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("read /proc/filesystems: %w", err)
	}
	if !strings.Contains(string(fsys), "\toverlay\n") {
		return errors.New("the e2e cluster needs the overlay filesystem (modprobe overlay)")
	}
	var missing []string
	for _, b := range hostBinaries {
		if _, err := findBinary(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run 'make deps' (Debian packages: containerd runc containernetworking-plugins etcd-server iptables conntrack iproute2 busybox-static)", strings.Join(missing, ", "))
	}
	return nil
}

// hostBinaries are the programs the cluster runs from the host, by name
// (looked up on PATH and the sbin directories) or by absolute path.
var hostBinaries = []string{
	"containerd", "containerd-shim-runc-v2", "ctr", "runc", "etcd",
	"iptables", "iptables-save", "iptables-restore", "ip6tables-save", "ip6tables-restore",
	"ip", "conntrack", busyboxPath,
	"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback", "/usr/lib/cni/portmap",
}

func hasCgroups(mounts string) bool {
	for _, line := range strings.Split(mounts, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasPrefix(f[1], "/sys/fs/cgroup") && (f[2] == "cgroup" || f[2] == "cgroup2") {
			return true
		}
	}
	return false
}

// hostPath is the PATH of every process the harness starts: kubelet and
// containerd call iptables, runc, mount and the shims by name.
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// findBinary resolves a host program by absolute path or on hostPath.
func findBinary(name string) (string, error) {
	if filepath.IsAbs(name) {
		if fi, err := os.Stat(name); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return "", fmt.Errorf("%s is not an executable file", name)
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(hostPath) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", name, hostPath)
}
