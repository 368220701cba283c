// Package smoke holds the smoke suite of the local e2e cluster (build tag
// e2e; run with `make e2e`). It proves, with client-go and by comparing
// values, what every later suite takes for granted: the node is Ready, pod
// IPs and ClusterIPs are reachable from the host but not from the laptop
// netns, port-forward, exec, Jobs, ephemeral containers, hostPID privileged
// pods and in-pod DNS work.
package smoke
