package schema

// InternalProxyConfig tunes the local proxy between the process and the agent.
type InternalProxyConfig struct {
	// Seconds to wait for the first process to connect.
	StartIdleTimeout int `json:"start_idle_timeout" jsonschema:"minimum=0"`
	// Seconds to wait after the last process disconnected.
	IdleTimeout int `json:"idle_timeout" jsonschema:"minimum=0"`
	// Seconds a socket may stay idle.
	SocketTimeout int `json:"socket_timeout" jsonschema:"minimum=0"`
	// Seconds between pings to the agent.
	PingInterval int `json:"ping_interval" jsonschema:"minimum=0"`
	// Log level of the proxy.
	LogLevel string `json:"log_level"`
	// Log file. Defaults to a new file in the temporary directory.
	LogDestination string `json:"log_destination,omitempty"`
	// Log in JSON.
	JSONLog bool `json:"json_log"`
	// Seconds between process-tree log lines.
	ProcessLoggingInterval int `json:"process_logging_interval" jsonschema:"minimum=0"`
}

// ExternalProxyConfig tunes the proxy used by `mirrord container`.
type ExternalProxyConfig struct {
	// Use TLS between the container and the proxy.
	TLSEnable bool `json:"tls_enable"`
	// Seconds to wait for the first connection.
	StartIdleTimeout int `json:"start_idle_timeout" jsonschema:"minimum=0"`
	// Seconds to wait after the last connection closed.
	IdleTimeout int `json:"idle_timeout" jsonschema:"minimum=0"`
	// Log level of the proxy.
	LogLevel string `json:"log_level"`
	// Log file. Defaults to a new file in the temporary directory.
	LogDestination string `json:"log_destination,omitempty"`
	// Log in JSON.
	JSONLog bool `json:"json_log"`
	// Address the proxy binds to.
	HostIP string `json:"host_ip,omitempty"`
}

// ContainerConfig tunes `mirrord container`.
type ContainerConfig struct {
	// Image of the mirrord sidecar container.
	CLIImage string `json:"cli_image,omitempty"`
	// Extra arguments of the sidecar container's run command.
	CLIExtraArgs []string `json:"cli_extra_args,omitempty"`
	// Keep the sidecar container after exit.
	CLIPreventCleanup bool `json:"cli_prevent_cleanup"`
	// Path of the layer inside the sidecar image.
	CLIImageLibPath string `json:"cli_image_lib_path,omitempty"`
	// Host address the container uses to reach the proxy.
	OverrideHostIP string `json:"override_host_ip,omitempty"`
	// Detect the host gateway address.
	HostGatewayDetection bool `json:"host_gateway_detection"`
	// Path of the TLS certificate inside the sidecar.
	CLITLSPath string `json:"cli_tls_path"`
	// Platform of the sidecar image, for example `linux/amd64`.
	Platform string `json:"platform,omitempty"`
}

// ExperimentalConfig holds switches that may change or disappear.
type ExperimentalConfig struct {
	// Answer TCP pings to IPv4 addresses locally.
	TCPPing4Mock bool `json:"tcp_ping4_mock"`
	// Trust every TLS certificate in stolen HTTPS traffic.
	TrustAnyCertificate bool `json:"trust_any_certificate"`
	// Follow exec in child processes.
	EnableExecHooksLinux bool `json:"enable_exec_hooks_linux"`
	// Hide IPv6 interfaces from the process.
	HideIPv6Interfaces bool `json:"hide_ipv6_interfaces"`
	// Ignore SO_REUSEADDR on listening sockets.
	DisableReuseaddr *bool `json:"disable_reuseaddr,omitempty"`
	// Use /dev/null for remote files opened for writing in read mode.
	UseDevNull bool `json:"use_dev_null"`
	// Milliseconds an idle local HTTP connection is kept.
	IdleLocalHTTPConnectionTimeout int `json:"idle_local_http_connection_timeout" jsonschema:"minimum=0"`
	// Ignore the system's proxy settings.
	IgnoreSystemProxyConfig bool `json:"ignore_system_proxy_config"`
	// Configure the mirrord browser extension.
	BrowserExtensionConfig bool `json:"browser_extension_config"`
	// macOS only: log file of SIP patching.
	SipLogDestination string `json:"sip_log_destination,omitempty"`
	// Deprecated.
	NonBlockingTCPConnect *bool `json:"non_blocking_tcp_connect,omitempty"`
	// Intercept dlopen of cgo libraries.
	DlopenCgo bool `json:"dlopen_cgo"`
	// Artificial latency, for testing.
	Latency LatencyConfig `json:"latency"`
	// macOS only: apple variables.
	Applev any `json:"applev,omitempty"`
	// Deprecated.
	SipUtils *bool `json:"sip_utils,omitempty"`
	// Hook Go's asmcgocall.
	GoAsmcgocall *bool `json:"go_asmcgocall,omitempty"`
	// Keep the standard file descriptors local.
	GuardStdFDs *bool `json:"guard_std_fds,omitempty"`
}

// LatencyConfig adds artificial latency.
type LatencyConfig struct {
	// Milliseconds added to each message sent.
	TransmitDelay int `json:"transmit_delay" jsonschema:"minimum=0"`
	// Milliseconds added to each message received.
	ReceiveDelay int `json:"receive_delay" jsonschema:"minimum=0"`
}

// StartupRetryConfig retries the first connection to the cluster.
type StartupRetryConfig struct {
	// Milliseconds before the first retry.
	MinMS int `json:"min_ms" jsonschema:"minimum=0"`
	// Longest wait between retries, in milliseconds; not 0.
	MaxMS int `json:"max_ms" jsonschema:"minimum=1"`
	// Number of retries.
	MaxRetries int `json:"max_retries" jsonschema:"minimum=0"`
}

// CIConfig tunes `mirrord ci`.
type CIConfig struct {
	// Directory of the CI session's output.
	OutputDir string `json:"output_dir,omitempty"`
}
