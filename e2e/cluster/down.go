//go:build linux

package cluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopOrder is the reverse of the start order, except that kubelet and
// kube-proxy go first so that nothing recreates pods or rules meanwhile.
var stopOrder = []string{"kubelet", "kube-proxy", "containerd", "kube-controller-manager", "kube-scheduler", "kube-apiserver", "etcd"}

// Down stops the cluster and removes what it set up on the host: every
// process it started (and the containerd shims of its socket), the pods'
// processes, the KUBE-*/CNI-* iptables chains, the cni0 bridge, the mounts
// under Dir and the laptop netns. With wipe it also deletes the cluster
// state (etcd data, containerd content, kubelet dir) but keeps the built
// binaries, images and certificates; delete Dir to remove everything.
func (c *Cluster) Down(ctx context.Context, wipe bool) error {
	c.removeNetns(ctx)
	for _, name := range stopOrder {
		if name == "containerd" {
			c.removePods(ctx)
		}
		c.stopComponent(name)
		if name == "containerd" {
			c.killProcesses("containerd shim", c.shimPIDs())
			c.removeContainerdSocket() // left when containerd had to be killed
		}
	}
	c.killProcesses("pod process", kubepodsPIDs())
	c.killProcesses("harness process", c.harnessPIDs())
	c.cleanIptables(ctx)
	c.unmountAll()
	if _, err := net.InterfaceByName(Bridge); err == nil {
		if _, err := output(ctx, "ip", "link", "del", Bridge); err != nil {
			c.Log.Warn("delete bridge", "err", err)
		}
	}
	removeKubepodsCgroups()
	if wipe {
		c.wipe()
	}
	left, err := c.CheckClean(ctx)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("cluster down left:\n  %s", strings.Join(left, "\n  "))
	}
	c.Log.Info("cluster stopped", "wiped", wipe, "dir", c.Dir)
	return nil
}

// stopComponent stops the recorded process of a component.
func (c *Cluster) stopComponent(name string) {
	data, err := os.ReadFile(c.pidFile(name))
	if err != nil {
		return
	}
	if f := strings.Fields(string(data)); len(f) == 2 {
		if pid, err := strconv.Atoi(f[0]); err == nil && alive(pid, f[1]) {
			stopProcess(pid, f[1], 10*time.Second)
			c.Log.Info("stopped", "component", name, "pid", pid)
		}
	}
	_ = os.Remove(c.pidFile(name))
}

// removePods stops and removes every pod sandbox through CRI, so that
// containerd runs CNI DEL (veths, IPAM, CNI-* chains) and ends the shims.
func (c *Cluster) removePods(ctx context.Context) {
	if _, ok := c.running("containerd"); !ok {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(rctx, c.k8sBin(), "cri-rmp", "unix://"+c.containerdSock()).CombinedOutput()
	_ = os.WriteFile(c.logFile("cri-rmp"), out, 0o644)
	if err != nil {
		c.Log.Warn("remove pod sandboxes", "err", err, "log", c.logFile("cri-rmp"), "output", strings.TrimSpace(string(out)))
		return
	}
	c.Log.Info("removed pod sandboxes", "count", strings.Count(string(out), "removed sandbox"))
}

func (c *Cluster) killProcesses(what string, pids []int) {
	for _, pid := range pids {
		st, err := startTime(pid)
		if err != nil {
			continue
		}
		stopProcess(pid, st, 5*time.Second)
		c.Log.Info("stopped", "what", what, "pid", pid)
	}
}

// procInfo is what the leftover scans need of a process.
type procInfo struct {
	pid     int
	exe     string
	cwd     string
	cmdline []string
	cgroup  string
}

func processes() []procInfo {
	entries, _ := os.ReadDir("/proc")
	var out []procInfo
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || len(raw) == 0 {
			continue // gone, or a kernel thread
		}
		p := procInfo{pid: pid, cmdline: strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")}
		p.exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		p.cwd, _ = os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		cg, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		p.cgroup = string(cg)
		out = append(out, p)
	}
	return out
}

// shimPIDs are the shims of our containerd. The socket path is the
// standard one, shared with any other containerd, so a shim is ours when
// it runs in a task bundle under our containerd state (its working
// directory) or names the state dir (the socket's path before it moved).
func (c *Cluster) shimPIDs() []int {
	var pids []int
	for _, p := range processes() {
		if strings.Contains(filepath.Base(p.exe), "containerd-shim") && (strings.HasPrefix(p.cwd, c.Dir+"/") || containsArg(p.cmdline, c.Dir+"/")) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// kubepodsPIDs are processes in the pods' cgroups (kubelet's cgroupfs
// layout: /kubepods/...), left when a shim went away without its containers.
func kubepodsPIDs() []int {
	var pids []int
	for _, p := range processes() {
		if strings.Contains(p.cgroup, ":/kubepods") {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

// harnessPIDs are processes of the cluster whose PID file is gone: anything
// running the multi-call binary (including a kubectl a test left behind) and
// etcd or containerd started with a path of the state dir. This process and
// its ancestors are skipped.
func (c *Cluster) harnessPIDs() []int {
	skip := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !skip[pid]; pid = parentPID(pid) {
		skip[pid] = true
	}
	var pids []int
	for _, p := range processes() {
		if skip[p.pid] {
			continue
		}
		base := filepath.Base(p.exe)
		if p.exe == c.k8sBin() || ((base == "etcd" || base == "containerd") && containsArg(p.cmdline, c.Dir+"/")) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

func containsArg(args []string, sub string) bool {
	for _, a := range args {
		if strings.Contains(a, sub) {
			return true
		}
	}
	return false
}

func parentPID(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

var (
	iptablesTables = []string{"filter", "nat", "mangle", "raw"}
	ourChain       = func(name string) bool { return strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "CNI-") }
)

// cleanIptables removes every KUBE-* and CNI-* chain (kube-proxy, kubelet,
// the bridge and portmap plugins) and the rules that jump to them, in one
// iptables-restore --noflush transaction per table.
func (c *Cluster) cleanIptables(ctx context.Context) {
	for _, family := range []string{"iptables", "ip6tables"} {
		for _, table := range iptablesTables {
			saved, err := output(ctx, family+"-save", "-t", table)
			if err != nil {
				continue // table or family not available
			}
			script := iptablesCleanup(table, saved)
			if script == "" {
				continue
			}
			cmd := exec.CommandContext(ctx, family+"-restore", "--noflush")
			cmd.Stdin = strings.NewReader(script)
			if out, err := cmd.CombinedOutput(); err != nil {
				c.Log.Warn("remove iptables chains", "family", family, "table", table, "err", err, "output", strings.TrimSpace(string(out)))
			}
		}
	}
}

// iptablesCleanup turns iptables-save output of one table into a restore
// script that deletes the jumps into our chains, then flushes and deletes
// the chains. It is "" when there is nothing to remove.
func iptablesCleanup(table, saved string) string {
	var chains, deletes []string
	for _, line := range strings.Split(saved, "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			if name := strings.Fields(line[1:])[0]; ourChain(name) {
				chains = append(chains, name)
			}
		case strings.HasPrefix(line, "-A "):
			f := strings.Fields(line)
			if len(f) > 1 && !ourChain(f[1]) && jumpsToOurs(f) {
				deletes = append(deletes, "-D"+line[2:])
			}
		}
	}
	if len(chains) == 0 && len(deletes) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s\n", table)
	for _, d := range deletes {
		b.WriteString(d + "\n")
	}
	for _, ch := range chains {
		fmt.Fprintf(&b, "-F %s\n", ch)
	}
	for _, ch := range chains {
		fmt.Fprintf(&b, "-X %s\n", ch)
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

func jumpsToOurs(fields []string) bool {
	for i := 0; i+1 < len(fields); i++ {
		if (fields[i] == "-j" || fields[i] == "-g") && ourChain(fields[i+1]) {
			return true
		}
	}
	return false
}

// mountsUnder lists mount points below dir, deepest first.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

// unescapeMount decodes the octal escapes (\040 for space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll detaches every mount under Dir (pod volumes, rootfs, shm).
func (c *Cluster) unmountAll() {
	for i := 0; i < 3; i++ {
		mps := mountsUnder(c.Dir)
		if len(mps) == 0 {
			return
		}
		for _, mp := range mps {
			if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil && i == 2 {
				c.Log.Warn("unmount", "path", mp, "err", err)
			}
		}
	}
}

// removeKubepodsCgroups removes the empty pod cgroups kubelet left, in every
// hierarchy, deepest first. Best effort: a cgroup still in use stays.
func removeKubepodsCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	}
}

// wipe deletes the cluster state and the few host paths that containerd
// 1.6, kubelet and libcni hard-code (they cannot point into Dir).
func (c *Cluster) wipe() {
	for _, d := range []string{"state", "run", "pids"} {
		if err := os.RemoveAll(c.path(d)); err != nil {
			c.Log.Warn("wipe", "path", c.path(d), "err", err)
		}
	}
	paths := []string{"/var/lib/cni/results", "/var/lib/cni/networks/mirrord-e2e", "/var/lib/kubelet/device-plugins",
		"/var/lib/kubelet/plugins_registry", "/var/lib/kubelet/pod-resources", "/var/log/containers"}
	if !otherContainerd() {
		paths = append(paths, "/run/containerd")
	}
	for _, p := range paths {
		_ = os.RemoveAll(p)
	}
	for _, d := range []string{"/var/lib/kubelet", "/var/lib/cni/networks", "/var/lib/cni"} {
		_ = os.Remove(d) // only when empty
	}
}

// otherContainerd reports whether a containerd that is not ours runs (then
// /run/containerd is shared and stays).
func otherContainerd() bool {
	for _, p := range processes() {
		if filepath.Base(p.exe) == "containerd" {
			return true
		}
	}
	return false
}

// CheckClean lists what of the cluster is left on the host: processes,
// iptables chains, the bridge, mounts under Dir, the laptop netns and the
// containerd socket. An empty list means clean.
func (c *Cluster) CheckClean(ctx context.Context) ([]string, error) {
	var left []string
	for _, name := range stopOrder {
		if pid, ok := c.running(name); ok {
			left = append(left, fmt.Sprintf("process: %s (pid %d)", name, pid))
		}
	}
	seen := map[int]bool{}
	for _, group := range []struct {
		what string
		pids []int
	}{{"containerd shim", c.shimPIDs()}, {"pod process", kubepodsPIDs()}, {"harness process", c.harnessPIDs()}} {
		for _, pid := range group.pids {
			if !seen[pid] {
				seen[pid] = true
				cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
				left = append(left, fmt.Sprintf("process: %s pid %d: %s", group.what, pid, strings.ReplaceAll(strings.TrimRight(string(cmd), "\x00"), "\x00", " ")))
			}
		}
	}
	for _, family := range []string{"iptables", "ip6tables"} {
		for _, table := range iptablesTables {
			saved, err := output(ctx, family+"-save", "-t", table)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(saved, "\n") {
				if strings.HasPrefix(line, ":") {
					if name := strings.Fields(line[1:])[0]; ourChain(name) {
						left = append(left, fmt.Sprintf("%s chain: %s/%s", family, table, name))
					}
				}
			}
		}
	}
	for _, link := range []string{Bridge, laptopHostIf} {
		if _, err := net.InterfaceByName(link); err == nil {
			left = append(left, "network interface: "+link)
		}
	}
	for _, mp := range mountsUnder(c.Dir) {
		left = append(left, "mount: "+mp)
	}
	if netnsExists() {
		left = append(left, "network namespace: "+LaptopNetns)
	}
	if s := c.containerdSocketLeft(); s != "" {
		left = append(left, s)
	}
	if _, err := os.Stat(filepath.Dir(LaptopResolvConf())); err == nil {
		left = append(left, "directory: "+filepath.Dir(LaptopResolvConf()))
	}
	return left, nil
}
