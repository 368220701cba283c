//go:build linux

package cluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The containerd socket is at the standard path, shared with any other
// containerd of the host; these helpers tell whose it is.

// socketInodes returns the inodes of the unix sockets bound to path, from
// a /proc/net/unix listing.
func socketInodes(procNetUnix, path string) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(procNetUnix))
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		f := strings.Fields(sc.Text())
		if len(f) >= 8 && f[7] == path && f[6] != "0" {
			out[f[6]] = true
		}
	}
	return out
}

// socketOwners lists the processes holding a socket bound to path.
func socketOwners(path string) []int {
	data, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return nil
	}
	inodes := socketInodes(string(data), path)
	if len(inodes) == 0 {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
		for _, fd := range fds {
			link, err := os.Readlink(fd)
			if err == nil && strings.HasPrefix(link, "socket:[") && inodes[strings.TrimSuffix(link[len("socket:["):], "]")] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func cmdline(pid int) string {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(raw), "\x00", " "))
}

// claimContainerdSocket makes sure our containerd can serve
// ContainerdSocket: it fails when another process serves it, and removes
// a stale socket file that nothing serves (left by a killed containerd).
func (c *Cluster) claimContainerdSocket() error { return c.claimSocket(ContainerdSocket) }

func (c *Cluster) claimSocket(path string) error {
	if _, err := os.Lstat(path); err != nil {
		return nil
	}
	if owners := socketOwners(path); len(owners) > 0 {
		return fmt.Errorf("start containerd: another program already serves %s (pid %d: %s). The cluster's containerd needs that path, "+
			"where the mirrord agent looks for the container runtime; stop the other containerd (for example 'systemctl stop containerd') and run 'make cluster' again",
			path, owners[0], cmdline(owners[0]))
	}
	c.removeStaleSockets(path)
	return nil
}

// removeContainerdSocket deletes containerd's socket files when nothing
// serves them.
func (c *Cluster) removeContainerdSocket() { c.removeStaleSockets(ContainerdSocket) }

// removeStaleSockets deletes path and path.ttrpc when nothing serves them.
func (c *Cluster) removeStaleSockets(path string) {
	for _, p := range []string{path, path + ".ttrpc"} {
		if _, err := os.Lstat(p); err != nil || len(socketOwners(p)) > 0 {
			continue
		}
		if err := os.Remove(p); err != nil {
			c.Log.Warn("remove stale containerd socket", "path", p, "err", err)
		} else {
			c.Log.Info("removed stale containerd socket", "path", p)
		}
	}
}

// containerdSocketLeft describes the socket when it is ours and left over:
// it exists and nothing serves it, or our own containerd still does (the
// process check lists that one too). A socket of another containerd,
// started after ours stopped, is not ours to report.
func (c *Cluster) containerdSocketLeft() string { return c.socketLeft(ContainerdSocket) }

func (c *Cluster) socketLeft(path string) string {
	if _, err := os.Lstat(path); err != nil {
		return ""
	}
	owners := socketOwners(path)
	if len(owners) == 0 {
		return "socket: " + path + " (stale: nothing serves it)"
	}
	for _, pid := range owners {
		if strings.Contains(cmdline(pid), c.Dir+"/") {
			return fmt.Sprintf("socket: %s (served by pid %d of this cluster)", path, pid)
		}
	}
	return ""
}
