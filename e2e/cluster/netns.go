//go:build linux

package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// The laptop netns is joined to the host by a veth pair on a /30. Its only
// routes are that /30 and a /32 to the node IP: like a developer's laptop it
// reaches the API server (and NodePorts) but no pod, Service or cluster DNS
// address, and its resolv.conf knows nothing of the cluster. The host side
// needs no NAT: the node IP is local, so replies go straight back.
const (
	laptopHostIf = "mirrord-lap"
	laptopNsIf   = "eth0"
	laptopHostIP = "10.231.0.1"
	laptopNsIP   = "10.231.0.2"
	laptopPrefix = 30
)

// LaptopResolvConf is the resolv.conf that processes in LaptopNetns see
// (ip netns exec bind-mounts /etc/netns/<name>/ over /etc/).
func LaptopResolvConf() string { return filepath.Join("/etc/netns", LaptopNetns, "resolv.conf") }

// resolveNodeIP sets c.NodeIP to the IPv4 address of the interface that
// holds the default route, unless it is set already.
func (c *Cluster) resolveNodeIP() error {
	if c.NodeIP != "" {
		if ip := net.ParseIP(c.NodeIP); ip == nil || ip.To4() == nil {
			return fmt.Errorf("node IP %q is not an IPv4 address", c.NodeIP)
		}
		return nil
	}
	ifName, err := defaultRouteInterface()
	if err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(ifName)
	if err != nil {
		return fmt.Errorf("node IP: %w", err)
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return fmt.Errorf("node IP: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
			c.NodeIP = ipn.IP.String()
			return nil
		}
	}
	return fmt.Errorf("node IP: interface %s (default route) has no IPv4 address; set NODE_IP", ifName)
}

// defaultRouteInterface reads the IPv4 routing table for the default route.
func defaultRouteInterface() (string, error) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return "", fmt.Errorf("node IP: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// Iface Destination Gateway Flags ... Mask: a default route has destination and mask 0.
		if len(fields) >= 8 && fields[1] == "00000000" && fields[7] == "00000000" {
			return fields[0], nil
		}
	}
	return "", errors.New("node IP: no default route; set NODE_IP to the address the laptop netns should reach")
}

// ensureNetns creates LaptopNetns unless it already has the expected route.
func (c *Cluster) ensureNetns(ctx context.Context) error {
	if c.netnsOK(ctx) {
		return nil
	}
	c.removeNetns(ctx)
	nsCIDR := fmt.Sprintf("%s/%d", laptopNsIP, laptopPrefix)
	steps := [][]string{
		{"netns", "add", LaptopNetns},
		{"link", "add", laptopHostIf, "type", "veth", "peer", "name", laptopNsIf, "netns", LaptopNetns},
		{"addr", "add", fmt.Sprintf("%s/%d", laptopHostIP, laptopPrefix), "dev", laptopHostIf},
		{"link", "set", laptopHostIf, "up"},
		{"-n", LaptopNetns, "addr", "add", nsCIDR, "dev", laptopNsIf},
		{"-n", LaptopNetns, "link", "set", "lo", "up"},
		{"-n", LaptopNetns, "link", "set", laptopNsIf, "up"},
		{"-n", LaptopNetns, "route", "add", c.NodeIP + "/32", "via", laptopHostIP},
	}
	for _, args := range steps {
		if _, err := output(ctx, "ip", args...); err != nil {
			c.removeNetns(ctx)
			return fmt.Errorf("laptop netns: %w", err)
		}
	}
	if err := writeIfChanged(LaptopResolvConf(), []byte(laptopResolvConf()), 0o644); err != nil {
		c.removeNetns(ctx)
		return fmt.Errorf("laptop netns: %w", err)
	}
	c.Log.Info("laptop netns ready", "netns", LaptopNetns, "reaches", c.NodeIP, "kubeconfig", c.LaptopKubeconfig())
	return nil
}

// laptopResolvConf keeps the host's nameservers (unreachable from the netns,
// so lookups fail fast, as on an offline laptop) and drops every cluster
// search domain or nameserver.
func laptopResolvConf() string {
	var b strings.Builder
	b.WriteString("# mirrord e2e laptop netns: knows nothing of the cluster\n")
	data, _ := os.ReadFile("/etc/resolv.conf")
	_, svc, _ := net.ParseCIDR(ServiceCIDR)
	_, pods, _ := net.ParseCIDR(ClusterCIDR)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]); ip != nil && !svc.Contains(ip) && !pods.Contains(ip) {
				b.WriteString(line + "\n")
			}
		}
	}
	b.WriteString("options timeout:1 attempts:1\n")
	return b.String()
}

// netnsOK reports whether the laptop netns exists with its route to the node.
func (c *Cluster) netnsOK(ctx context.Context) bool {
	out, err := output(ctx, "ip", "-n", LaptopNetns, "-4", "route", "show")
	if err != nil {
		return false
	}
	_, err = os.Stat(LaptopResolvConf())
	return err == nil && strings.Contains(out, c.NodeIP+" via "+laptopHostIP)
}

// removeNetns deletes the laptop netns (which deletes the veth pair) and its
// /etc/netns directory; it is quiet when they do not exist.
func (c *Cluster) removeNetns(ctx context.Context) {
	if netnsExists() {
		if _, err := output(ctx, "ip", "netns", "del", LaptopNetns); err != nil {
			c.Log.Warn("delete laptop netns", "err", err)
		}
	}
	if _, err := net.InterfaceByName(laptopHostIf); err == nil {
		_, _ = output(ctx, "ip", "link", "del", laptopHostIf)
	}
	_ = os.RemoveAll(filepath.Dir(LaptopResolvConf()))
}

func netnsExists() bool {
	_, err := os.Stat(filepath.Join("/run/netns", LaptopNetns))
	return err == nil
}
