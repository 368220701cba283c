// Package kube holds the e2e suite of the kube package (build tag e2e; run
// with `make e2e`): target resolution against the sample workloads of the
// local cluster, the error texts of missing targets, and, once the agent
// image is in the cluster, creating the agent (a targeted Job and an
// ephemeral container), dialing it through the port-forward, and deleting
// it without leftovers.
package kube
