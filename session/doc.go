// Package session is the spine every mirrord session shares, whether the
// CLI runs it (`mirrord exec`, `mirrord port-forward`) or, later, the
// daemon: resolve the target, start an agent beside it, reach the agent
// through the API server with a per-session token, and bring the pod's
// context (its environment first) back to the local process.
//
// It sits between the cluster library (kube) and the wire protocol
// (agent/protocol) so that the CLI and the daemon do not each assemble the
// steps, their timeouts and their cleanup on their own.
package session
