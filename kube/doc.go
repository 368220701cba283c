// Package kube is everything mirrord does with the Kubernetes API: it builds
// a client from the config's kubeconfig settings, resolves a target string
// to one ready pod and container, lists targets for `mirrord ls` and the IDE
// pickers, creates the agent (a Job on the target's node, an ephemeral
// container, or a targetless Job) and waits until it is ready, and dials the
// agent through the API server's port-forward.
//
// It is shared by the CLI and the daemon, so it imports only schema/ and
// agent/protocol: neither may reach up into cli/, daemon/ or layer/.
package kube
