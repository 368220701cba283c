// Package schema is mirrord's configuration model: the Go types with their
// defaults, loading from JSON, TOML or YAML (with templating), env-var and
// flag overrides, validation with positioned errors, and the JSON Schema
// generated from these types. It knows no cluster, transport or daemon, so
// the CLI, the daemon and the IDE plugins all agree on what a config means.
package schema

// Config is the mirrord configuration: what `.mirrord/mirrord.json` (or .toml
// or .yaml) holds. Every key is optional. A value that is absent or null keeps
// its default.
type Config struct {
	// Controls whether mirrord accepts invalid TLS certificates (for example
	// self-signed ones) from the Kubernetes API server. When unset, the
	// kubeconfig's own setting applies.
	AcceptInvalidCertificates *bool `json:"accept_invalid_certificates,omitempty"`
	// Executables that run outside mirrord: they and their children are not
	// intercepted, for example `["ide-debugger", "bash"]`.
	SkipProcesses StringList `json:"skip_processes,omitempty"`
	// Skip well-known build tools (cargo, go build, gradle, ...) so that a
	// build started under mirrord runs locally.
	SkipBuildTools bool `json:"skip_build_tools"`
	// More build tools to skip, besides the built-in list. Only used when
	// skip_build_tools is on.
	SkipExtraBuildTools StringList `json:"skip_extra_build_tools,omitempty"`
	// Whether to use the mirrord operator. When unset, the operator is tried
	// and the open-source mode is used when it is not installed.
	Operator *bool `json:"operator,omitempty"`
	// Multi-cluster sessions through the operator.
	MultiCluster *bool `json:"multi_cluster,omitempty"`
	// Expose a local session monitor socket.
	API bool `json:"api"`
	// Name of an operator profile to apply (`name` or `namespace/name`).
	Profile string `json:"profile,omitempty"`
	// Path to the kubeconfig file. When unset: $KUBECONFIG, then
	// ~/.kube/config, then the in-cluster config. A `:`-separated list and `~`
	// are accepted.
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// The kubeconfig context to use. When unset, the current context.
	KubeContext string `json:"kube_context,omitempty"`
	// macOS only: binaries to patch for System Integrity Protection.
	SipBinaries StringList `json:"sip_binaries,omitempty"`
	// macOS only: binaries never patched for System Integrity Protection.
	SkipSip StringList `json:"skip_sip,omitempty"`
	// Send anonymous usage statistics.
	Telemetry bool `json:"telemetry"`
	// Honour HTTP_PROXY/HTTPS_PROXY for mirrord's own connections. When false,
	// they are blanked for mirrord.
	UseProxy bool `json:"use_proxy"`
	// A key that identifies the session; sessions with the same key share
	// resources. Generated when unset.
	Key string `json:"key,omitempty"`
	// W3C trace context forwarded to the operator.
	Traceparent string `json:"traceparent,omitempty"`
	// W3C baggage forwarded to the operator.
	Baggage string `json:"baggage,omitempty"`
	// The pod or workload whose context the local process joins. A string
	// such as `"deployment/web"`, `"pod/web-7d9/container/app"` or
	// `"targetless"`, a path object such as `{"deployment": "web"}`, or
	// `{"path": ..., "namespace": "..."}`.
	Target TargetConfig `json:"target"`
	// How the agent (the helper that mirrord runs beside the target) is created.
	Agent AgentConfig `json:"agent"`
	// Which parts of the target's context the local process gets.
	Feature FeatureConfig `json:"feature"`
	// Settings of the local proxy between the process and the agent.
	InternalProxy InternalProxyConfig `json:"internal_proxy"`
	// Settings of the proxy used by `mirrord container`.
	ExternalProxy ExternalProxyConfig `json:"external_proxy"`
	// Settings of `mirrord container`.
	Container ContainerConfig `json:"container"`
	// Experimental switches; they may change or disappear.
	Experimental ExperimentalConfig `json:"experimental"`
	// Retries of the connection to the cluster at startup.
	StartupRetry StartupRetryConfig `json:"startup_retry"`
	// Settings of `mirrord ci`.
	CI CIConfig `json:"ci"`
}

// TargetConfig says which pod, workload or container to impersonate.
type TargetConfig struct {
	// The target. Strings: `targetless`, `pod/<name>`, `deployment/<name>`
	// (or `deploy/`), `rollout/`, `statefulset/`, `replicaset/`, `job/`,
	// `cronjob/`, `service/`, each optionally followed by
	// `/container/<name>`, and `label/<k>=<v>,...`. When unset, the session
	// is targetless unless an IDE asks for a target.
	Path *TargetPath `json:"path,omitempty"`
	// The namespace of the target. Defaults to the kubeconfig context's
	// namespace.
	Namespace string `json:"namespace,omitempty" jsonschema:"format=dns-label"`
}

// TargetPath is a parsed target. Kind is one of the Kind* constants.
type TargetPath struct {
	Kind      string            `json:"-"`
	Name      string            `json:"-"`
	Container string            `json:"-"`
	Labels    map[string]string `json:"-"`
}

// Target kinds, spelled as in target strings.
const (
	KindTargetless  = "targetless"
	KindPod         = "pod"
	KindDeployment  = "deployment"
	KindRollout     = "rollout"
	KindJob         = "job"
	KindCronJob     = "cronjob"
	KindStatefulSet = "statefulset"
	KindService     = "service"
	KindReplicaSet  = "replicaset"
	KindLabel       = "label"
)

// TargetKinds lists every kind a target may have, in upstream's order.
var TargetKinds = []string{KindTargetless, KindPod, KindDeployment, KindRollout, KindJob, KindCronJob, KindStatefulSet, KindService, KindReplicaSet}
