package schema

// AgentConfig controls the agent: the small program mirrord starts beside
// the target (as a Job on the target's node, or as an ephemeral container)
// to do the remote side of the work.
type AgentConfig struct {
	// Log level of the agent, for example `info`, `debug` or
	// `mirrord=trace`.
	LogLevel string `json:"log_level"`
	// Log in JSON.
	JSONLog bool `json:"json_log"`
	// Namespace in which the agent Job is created. Defaults to the target's
	// namespace (targetless: the context's namespace).
	Namespace string `json:"namespace,omitempty" jsonschema:"format=dns-label"`
	// The agent image: `"registry/name:tag"`, or `{"registry": ..., "tag": ...}`.
	// Defaults to the image matching this mirrord version.
	Image AgentImage `json:"image"`
	// Kubernetes image pull policy of the agent.
	ImagePullPolicy string `json:"image_pull_policy" jsonschema:"enum=IfNotPresent,enum=Always,enum=Never"`
	// Secrets used to pull the agent image, as `[{"name": "my-secret"}]`.
	ImagePullSecrets []map[string]string `json:"image_pull_secrets,omitempty"`
	// Seconds the agent stays around after its last client left.
	TTL int `json:"ttl" jsonschema:"minimum=0,maximum=65535"`
	// Run the agent as an ephemeral container in the target pod instead of a
	// Job on its node. Needs ephemeral containers to be allowed.
	Ephemeral bool `json:"ephemeral"`
	// Seconds without any message from the client after which the agent
	// exits. When unset, 30.
	CommunicationTimeout *int `json:"communication_timeout,omitempty" jsonschema:"minimum=0,maximum=65535"`
	// Seconds to wait for the agent to start before giving up.
	StartupTimeout int `json:"startup_timeout" jsonschema:"minimum=0"`
	// Flush existing connections of stolen ports when stealing starts, so
	// that they reconnect through mirrord.
	FlushConnections bool `json:"flush_connections"`
	// Linux capabilities not to give the agent.
	DisabledCapabilities []string `json:"disabled_capabilities,omitempty" jsonschema:"uniqueItems=true"`
	// Tolerations of the agent pod. Defaults to tolerating every taint.
	Tolerations []Toleration `json:"tolerations"`
	// Resource requests and limits of the agent container.
	Resources ResourceRequirements `json:"resources"`
	// Check that the target's node has room for one more pod before creating
	// the agent, and fail early with a clear message when it does not.
	CheckOutOfPods bool `json:"check_out_of_pods"`
	// Run the agent container as privileged.
	Privileged bool `json:"privileged"`
	// Work around external-IP traffic in steal mode.
	ExternalIPFix bool `json:"external_ip_fix"`
	// Use nftables instead of iptables-legacy. When unset, detected from the
	// pod's rules.
	NFTables *bool `json:"nftables,omitempty"`
	// DNS settings of the agent's resolver.
	DNS AgentDNSConfig `json:"dns"`
	// Extra labels of the agent pod.
	Labels map[string]string `json:"labels,omitempty"`
	// Extra annotations of the agent pod.
	Annotations map[string]string `json:"annotations,omitempty"`
	// Node selector of the agent pod (targetless only; a targeted agent runs
	// on its target's node).
	NodeSelector map[string]string `json:"node_selector,omitempty"`
	// Service account of the agent pod.
	ServiceAccount string `json:"service_account,omitempty"`
	// Address (`ip:port`) of the agent's Prometheus metrics endpoint.
	Metrics string `json:"metrics,omitempty"`
	// Keep the agent's traffic out of a service mesh.
	ExcludeFromMesh bool `json:"exclude_from_mesh"`
	// Priority class of the agent pod.
	PriorityClass string `json:"priority_class,omitempty"`
	// Add mirrord headers to stolen HTTP requests.
	InjectHeaders bool `json:"inject_headers"`
	// Disable caching of stolen HTTP responses.
	OverrideCacheControl bool `json:"override_cache_control"`
	// Bytes of an HTTP body buffered for body filters.
	MaxBodyBufferSize int `json:"max_body_buffer_size" jsonschema:"minimum=0"`
	// Milliseconds to wait for an HTTP body for body filters.
	MaxBodyBufferTimeout int `json:"max_body_buffer_timeout" jsonschema:"minimum=0"`
	// Seconds to wait for the first bytes of a connection to tell whether it
	// is HTTP.
	HTTPDetectionTimeout int `json:"http_detection_timeout" jsonschema:"minimum=0"`
	// AppArmor and seccomp profiles of the agent container.
	SecurityContext *SecurityContext `json:"security_context,omitempty"`
	// Remove leftover mirrord iptables rules when the agent starts.
	CleanIptablesOnStart *bool `json:"clean_iptables_on_start,omitempty"`
	// Ask service meshes not to inject a sidecar into the agent pod.
	DisableMeshSidecarInjection bool `json:"disable_mesh_sidecar_injection"`
	// Time limit of a jq header filter, in milliseconds.
	JaqTimeLimit int `json:"jaq_time_limit" jsonschema:"minimum=0"`
}

// AgentImage is the agent's container image, split into repository and tag.
type AgentImage struct {
	// The image repository, for example `ghcr.io/mirrord-go/mirrord-agent`.
	Registry string `json:"registry,omitempty"`
	// The image tag. Defaults to this mirrord version.
	Tag string `json:"tag,omitempty"`
}

// Toleration is a Kubernetes pod toleration.
type Toleration struct {
	// The taint key; empty matches every key (with operator Exists).
	Key string `json:"key,omitempty"`
	// `Exists` or `Equal`.
	Operator string `json:"operator,omitempty" jsonschema:"enum=Exists,enum=Equal"`
	// The taint value to match with operator Equal.
	Value string `json:"value,omitempty"`
	// The taint effect to match; empty matches every effect.
	Effect string `json:"effect,omitempty" jsonschema:"enum=NoSchedule,enum=PreferNoSchedule,enum=NoExecute,enum="`
	// Seconds a NoExecute taint is tolerated.
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// ResourceRequirements are Kubernetes container resources. Quantities are
// Kubernetes quantities such as `"100Mi"` or `"1m"`.
type ResourceRequirements struct {
	// Resource claims (dynamic resource allocation).
	Claims []ResourceClaim `json:"claims,omitempty"`
	// Maximum resources, for example `{"cpu": "1", "memory": "100Mi"}`.
	Limits map[string]Quantity `json:"limits,omitempty"`
	// Requested resources, for example `{"cpu": "1m", "memory": "1Mi"}`.
	Requests map[string]Quantity `json:"requests,omitempty"`
}

// ResourceClaim names a resource claim of the pod.
type ResourceClaim struct {
	// Name of the claim in the pod's resourceClaims.
	Name string `json:"name" jsonschema:"required"`
	// The request inside the claim.
	Request string `json:"request,omitempty"`
}

// AgentDNSConfig tunes the agent's DNS resolver.
type AgentDNSConfig struct {
	// Seconds per DNS attempt. When unset, 1.
	Timeout *int `json:"timeout,omitempty" jsonschema:"minimum=0"`
	// Number of DNS attempts.
	Attempts *int `json:"attempts,omitempty" jsonschema:"minimum=0"`
}

// SecurityContext holds the agent container's security profiles.
type SecurityContext struct {
	// AppArmor profile of the agent container.
	AppArmorProfile *SecurityProfile `json:"app_armor_profile,omitempty"`
	// Seccomp profile of the agent container.
	SeccompProfile *SecurityProfile `json:"seccomp_profile,omitempty"`
}

// SecurityProfile is an AppArmor or seccomp profile reference.
type SecurityProfile struct {
	// `RuntimeDefault`, `Localhost` or `Unconfined`.
	Type string `json:"type" jsonschema:"required,enum=RuntimeDefault,enum=Localhost,enum=Unconfined"`
	// Profile path when type is Localhost.
	LocalhostProfile string `json:"localhost_profile,omitempty"`
}
