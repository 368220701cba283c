//go:build linux

package cluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Status writes the state of every component, the node and the workloads
// to w. It returns an error only when it cannot inspect the cluster; a
// stopped cluster is a normal status.
func (c *Cluster) Status(ctx context.Context, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "state dir\t%s\n", c.Dir)
	fmt.Fprintf(tw, "kubeconfig\t%s\n", c.Kubeconfig())
	fmt.Fprintf(tw, "laptop\tip netns exec %s ... (kubeconfig %s)\n", LaptopNetns, c.LaptopKubeconfig())
	fmt.Fprintf(tw, "containerd socket\t%s\n", c.containerdSock())
	running := 0
	for i := len(stopOrder) - 1; i >= 0; i-- {
		name := stopOrder[i]
		state := "stopped"
		if pid, ok := c.running(name); ok {
			state = fmt.Sprintf("running (pid %d, %s RSS)", pid, rss(pid))
			running++
		}
		fmt.Fprintf(tw, "%s\t%s\tlog %s\n", name, state, c.logFile(name))
	}
	if netnsExists() {
		fmt.Fprintf(tw, "laptop netns\t%s present\n", LaptopNetns)
	} else {
		fmt.Fprintf(tw, "laptop netns\tabsent\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if running < len(stopOrder) {
		fmt.Fprintf(w, "\ncluster is not fully running (%d/%d components); start it with 'make cluster'\n", running, len(stopOrder))
		return nil
	}
	cs, _, err := c.clients()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		fmt.Fprintf(w, "\nnode %s: %v\n", NodeName, err)
		return nil
	}
	ready := "NotReady"
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			ready = "Ready"
		}
	}
	fmt.Fprintf(w, "\nnode %s %s, kubelet %s, IP %s\n\n", NodeName, ready, node.Status.NodeInfo.KubeletVersion, nodeIP(node))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tPOD\tREADY\tSTATUS\tIP")
	for _, ns := range []string{"kube-system", Namespace} {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list pods in %s: %w", ns, err)
		}
		for _, p := range pods.Items {
			r := "no"
			if podReady(&p) {
				r = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ns, p.Name, r, p.Status.Phase, p.Status.PodIP)
		}
	}
	return tw.Flush()
}

func nodeIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return "?"
}

// rss returns the resident set size of pid from /proc, for the status view.
func rss(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return "?"
}
