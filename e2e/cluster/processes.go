//go:build linux

package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// component is one cluster process the harness starts and stops.
type component struct {
	name  string
	bin   string
	args  []string
	ports []int // must be free before it starts
	// ready probes whether the component serves; each call is bounded by
	// its ctx (probeTimeout).
	ready func(ctx context.Context) error
	// claim, when set, prepares what the component needs that another
	// program could hold (besides ports); it runs just before the start.
	claim func() error
}

const (
	probeTimeout  = 5 * time.Second
	probeInterval = 200 * time.Millisecond
)

// components returns every process in start order. Stop order is the reverse.
func (c *Cluster) components() ([]component, error) {
	etcd, err := findBinary("etcd")
	if err != nil {
		return nil, err
	}
	containerd, err := findBinary("containerd")
	if err != nil {
		return nil, err
	}
	k8s, pki, conf := c.k8sBin(), c.pki, func(n string) string { return c.path("run", "conf", n) }
	apiClient, err := c.adminHTTPClient()
	if err != nil {
		return nil, err
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // #nosec: probing a local healthz
	return []component{
		{name: "etcd", bin: etcd, ports: []int{2379, 2380}, args: []string{
			"--name", "default", "--data-dir", c.path("state", "etcd"),
			"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
			"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
			"--initial-cluster", "default=http://127.0.0.1:2380", "--logger", "zap", "--log-level", "warn",
		}, ready: httpProbe(http.DefaultClient, "http://127.0.0.1:2379/health", `"health":"true"`)},
		{name: "containerd", bin: containerd, args: []string{"--config", conf("containerd.toml")},
			claim: c.claimContainerdSocket,
			ready: func(ctx context.Context) error {
				_, err := output(ctx, "ctr", "--connect-timeout", "1s", "--address", c.containerdSock(), "version")
				return err
			}},
		{name: "kube-apiserver", bin: k8s, ports: []int{APIPort}, args: []string{
			"kube-apiserver",
			"--advertise-address=" + c.NodeIP, "--bind-address=0.0.0.0", fmt.Sprintf("--secure-port=%d", APIPort),
			"--etcd-servers=http://127.0.0.1:2379",
			"--service-cluster-ip-range=" + ServiceCIDR,
			"--tls-cert-file=" + pki("apiserver.crt"), "--tls-private-key-file=" + pki("apiserver.key"),
			"--client-ca-file=" + pki("ca.crt"),
			"--kubelet-client-certificate=" + pki("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + pki("apiserver-kubelet-client.key"),
			"--kubelet-preferred-address-types=InternalIP,Hostname",
			"--service-account-key-file=" + pki("sa.pub"), "--service-account-signing-key-file=" + pki("sa.key"),
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
			"--allow-privileged=true", "--profiling=false",
		}, ready: httpProbe(apiClient, fmt.Sprintf("https://127.0.0.1:%d/readyz", APIPort), "ok")},
		{name: "kube-controller-manager", bin: k8s, ports: []int{10257}, args: []string{
			"kube-controller-manager",
			"--kubeconfig=" + pki("controller-manager.kubeconfig"),
			"--authentication-kubeconfig=" + pki("controller-manager.kubeconfig"), "--authorization-kubeconfig=" + pki("controller-manager.kubeconfig"),
			"--service-account-private-key-file=" + pki("sa.key"), "--root-ca-file=" + pki("ca.crt"),
			"--cluster-signing-cert-file=" + pki("ca.crt"), "--cluster-signing-key-file=" + pki("ca.key"),
			"--use-service-account-credentials=true", "--leader-elect=false", "--bind-address=127.0.0.1",
			"--cluster-cidr=" + ClusterCIDR, "--service-cluster-ip-range=" + ServiceCIDR,
			// the default is under /usr/libexec and kcm would create it (kubelet's volumePluginDir matches)
			"--flex-volume-plugin-dir=" + c.path("state", "kubelet-plugins"),
		}, ready: httpProbe(insecure, "https://127.0.0.1:10257/healthz", "ok")},
		{name: "kube-scheduler", bin: k8s, ports: []int{10259}, args: []string{
			"kube-scheduler",
			"--kubeconfig=" + pki("scheduler.kubeconfig"),
			"--authentication-kubeconfig=" + pki("scheduler.kubeconfig"), "--authorization-kubeconfig=" + pki("scheduler.kubeconfig"),
			"--leader-elect=false", "--bind-address=127.0.0.1",
		}, ready: httpProbe(insecure, "https://127.0.0.1:10259/healthz", "ok")},
		{name: "kubelet", bin: k8s, ports: []int{10248, 10250}, args: []string{
			"kubelet",
			"--config=" + conf("kubelet.yaml"), "--kubeconfig=" + pki("kubelet.kubeconfig"),
			"--root-dir=" + c.path("state", "kubelet"), "--hostname-override=" + NodeName, "--node-ip=" + c.NodeIP,
		}, ready: httpProbe(http.DefaultClient, "http://127.0.0.1:10248/healthz", "ok")},
		{name: "kube-proxy", bin: k8s, ports: []int{10249, 10256}, args: []string{
			"kube-proxy", "--config=" + conf("kube-proxy.yaml"),
		}, ready: httpProbe(http.DefaultClient, "http://127.0.0.1:10256/livez", "")},
	}, nil
}

// startAll starts every component that is not running, in order, waiting
// for each to serve before starting the ones that need it. The images are
// imported once containerd serves and before kubelet starts, because the
// sandbox image must exist before the first pod. It reports whether it
// started kubelet: then the pods of the previous run are gone.
func (c *Cluster) startAll(ctx context.Context) (nodeRestarted bool, err error) {
	if err := c.hostSysctls(); err != nil {
		return false, err
	}
	comps, err := c.components()
	if err != nil {
		return false, err
	}
	_, kubeletRan := c.running("kubelet")
	byName := map[string]component{}
	procs := map[string]*proc{}
	for _, comp := range comps {
		byName[comp.name] = comp
	}
	startOne := func(name string) error {
		p, err := c.start(byName[name])
		procs[name] = p
		return err
	}
	waitOne := func(name string) error { return c.waitReady(ctx, byName[name], procs[name]) }
	steps := []func() error{
		func() error { return startOne("etcd") },
		func() error { return startOne("containerd") },
		func() error { return waitOne("etcd") },
		func() error { return startOne("kube-apiserver") },
		func() error { return waitOne("kube-apiserver") },
		func() error { return startOne("kube-controller-manager") },
		func() error { return startOne("kube-scheduler") },
		func() error { return waitOne("containerd") },
		func() error { return c.ImportImages(ctx) },
		func() error { return startOne("kubelet") },
		func() error { return startOne("kube-proxy") },
		func() error { return waitOne("kube-controller-manager") },
		func() error { return waitOne("kube-scheduler") },
		func() error { return waitOne("kubelet") },
		func() error { return waitOne("kube-proxy") },
		func() error { return c.waitNodeReady(ctx, procs["kubelet"]) },
		func() error { c.Log.Info("node Ready", "node", NodeName, "at", c.since()); return nil },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return false, fmt.Errorf("%w\n(stop what was started with 'make cluster-down')", err)
		}
	}
	return !kubeletRan, nil
}

// hostSysctls enables forwarding and bridge netfilter, which pod and Service
// traffic need. cluster down does not restore them.
func (c *Cluster) hostSysctls() error {
	if _, err := os.Stat("/proc/sys/net/bridge/bridge-nf-call-iptables"); err != nil {
		if out, err := exec.Command("modprobe", "br_netfilter").CombinedOutput(); err != nil {
			return fmt.Errorf("load br_netfilter (needed for Service traffic over the bridge): %w: %s", err, out)
		}
	}
	for _, s := range []string{"net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables"} {
		if err := os.WriteFile("/proc/sys/"+s, []byte("1"), 0o644); err != nil {
			return fmt.Errorf("sysctl %s=1: %w", strings.ReplaceAll(s, "/", "."), err)
		}
	}
	return nil
}

// proc is a started or found component process.
type proc struct {
	pid int
	// exited is closed when a process this harness started has exited; nil
	// for a process found running (it is not our child).
	exited chan struct{}
}

// dead reports whether the process has exited.
func (p *proc) dead() bool {
	if p.exited != nil {
		select {
		case <-p.exited:
			return true
		default:
			return false
		}
	}
	return !alive(p.pid, "")
}

// start starts comp unless its recorded process still runs. The process
// gets its own session (so a Ctrl-C of make does not reach it), /dev/null as
// stdin and logs/<name>.log as output; its PID and start time go to
// pids/<name>.
func (c *Cluster) start(comp component) (*proc, error) {
	if pid, ok := c.running(comp.name); ok {
		return &proc{pid: pid}, nil
	}
	for _, port := range comp.ports {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return nil, fmt.Errorf("start %s: port %d is in use by another program (another cluster?): %w", comp.name, port, err)
		}
		ln.Close()
	}
	if comp.claim != nil {
		if err := comp.claim(); err != nil {
			return nil, err
		}
	}
	logPath := c.logFile(comp.name)
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", comp.name, err)
	}
	defer f.Close()
	fmt.Fprintf(f, "\n==== %s: starting %s %s\n", time.Now().Format(time.RFC3339), comp.bin, strings.Join(comp.args, " "))
	cmd := exec.Command(comp.bin, comp.args...)
	cmd.Dir = c.Dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "PATH="+hostPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", comp.name, err)
	}
	p := &proc{pid: cmd.Process.Pid, exited: make(chan struct{})}
	// The waiter reaps the child if it dies while this command still runs,
	// so a crash is seen at once; it ends when the process or this command does.
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	st, err := startTime(p.pid)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", comp.name, err)
	}
	if err := os.WriteFile(c.pidFile(comp.name), []byte(fmt.Sprintf("%d %s\n", p.pid, st)), 0o644); err != nil {
		return nil, fmt.Errorf("start %s: record pid: %w", comp.name, err)
	}
	c.Log.Info("started", "component", comp.name, "pid", p.pid, "log", logPath, "at", c.since())
	return p, nil
}

// waitReady polls comp.ready until it succeeds, the process exits or c.Wait passes.
func (c *Cluster) waitReady(ctx context.Context, comp component, p *proc) error {
	return c.poll(ctx, comp.name+" ready", comp.name, p, comp.ready)
}

// poll calls check until it returns nil. It fails at once when p (if not
// nil) has exited, and after c.Wait; both errors name the log to read.
func (c *Cluster) poll(ctx context.Context, what, logName string, p *proc, check func(context.Context) error) error {
	deadline := time.Now().Add(c.Wait)
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		last = check(pctx)
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		logPath := c.logFile(logName)
		if p != nil && p.dead() {
			return fmt.Errorf("waiting for %s: process %d exited; see %s:\n%s", what, p.pid, logPath, tail(logPath, 15))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s: not done after %s (last error: %v); see %s:\n%s", what, c.Wait, last, logPath, tail(logPath, 15))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(probeInterval):
		}
	}
}

func httpProbe(client *http.Client, url, want string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		if !strings.Contains(string(body), want) {
			return fmt.Errorf("GET %s: body %q lacks %q", url, body, want)
		}
		return nil
	}
}

// adminHTTPClient authenticates as the admin (for /readyz before any
// clientset exists).
func (c *Cluster) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(c.pki("admin.crt"), c.pki("admin.key"))
	if err != nil {
		return nil, fmt.Errorf("admin client certificate: %w", err)
	}
	caPEM, err := os.ReadFile(c.pki("ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool,
	}}}, nil
}

func (c *Cluster) pidFile(name string) string { return c.path("pids", name) }

// running reports the PID of the recorded process of a component if it
// still runs. The recorded start time guards against a reused PID.
func (c *Cluster) running(name string) (int, bool) {
	data, err := os.ReadFile(c.pidFile(name))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return 0, false
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || !alive(pid, f[1]) {
		return 0, false
	}
	return pid, true
}

// alive reports whether pid runs (is not a zombie) and, when start is not
// empty, started at that time (clock ticks since boot).
func alive(pid int, start string) bool {
	st, state, err := procStat(pid)
	if err != nil || state == "Z" || state == "X" {
		return false
	}
	return start == "" || st == start
}

func startTime(pid int) (string, error) {
	st, _, err := procStat(pid)
	return st, err
}

// procStat returns the start time and state of pid from /proc/<pid>/stat.
func procStat(pid int) (start, state string, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", err
	}
	// The command name (field 2) may hold spaces and parentheses: split after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", "", errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", "", errors.New("malformed /proc stat")
	}
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	return f[19], f[0], nil
}

// stopProcess sends SIGTERM, waits up to grace, then SIGKILL.
func stopProcess(pid int, start string, grace time.Duration) {
	if !alive(pid, start) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !alive(pid, start) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 50 && alive(pid, start); i++ {
		time.Sleep(100 * time.Millisecond)
	}
}
