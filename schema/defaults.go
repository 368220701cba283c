package schema

// DefaultAgentRegistry is the agent image repository used when none is set.
const DefaultAgentRegistry = "ghcr.io/mirrord-go/mirrord-agent"

// Default returns the configuration used when a file sets nothing. It is the
// single source of defaults: the JSON Schema's "default" values are read from
// it.
func Default() *Config {
	return &Config{
		SkipBuildTools: true,
		API:            true,
		SkipSip:        StringList{"git"},
		Telemetry:      true,
		UseProxy:       true,
		Agent: AgentConfig{
			LogLevel:                    "info",
			Image:                       AgentImage{Registry: DefaultAgentRegistry},
			ImagePullPolicy:             "IfNotPresent",
			TTL:                         1,
			StartupTimeout:              60,
			FlushConnections:            true,
			Tolerations:                 []Toleration{{Operator: "Exists"}},
			Resources:                   ResourceRequirements{Requests: map[string]Quantity{"cpu": "1m", "memory": "1Mi"}, Limits: map[string]Quantity{"cpu": "1", "memory": "100Mi"}},
			CheckOutOfPods:              true,
			ExternalIPFix:               true,
			OverrideCacheControl:        true,
			MaxBodyBufferSize:           65535,
			MaxBodyBufferTimeout:        1000,
			HTTPDetectionTimeout:        2,
			DisableMeshSidecarInjection: true,
			JaqTimeLimit:                500,
		},
		Feature: FeatureConfig{
			FS: FSConfig{Mode: FSRead, ReadonlyFileBuffer: 128000},
			Network: NetworkConfig{
				Incoming: IncomingConfig{Mode: IncomingMirror, OnConcurrentSteal: "abort"},
				Outgoing: OutgoingConfig{TCP: true, UDP: true},
				DNS:      DNSConfig{Enabled: true},
				IPv6:     true,
			},
			Hostname: true,
			Magic:    MagicConfig{AWS: true, AutoMount: true, Turbo: true},
		},
		InternalProxy: InternalProxyConfig{
			StartIdleTimeout:       60,
			IdleTimeout:            5,
			SocketTimeout:          31536000,
			PingInterval:           30,
			LogLevel:               "mirrord=info,warn",
			JSONLog:                true,
			ProcessLoggingInterval: 60,
		},
		ExternalProxy: ExternalProxyConfig{
			TLSEnable:        true,
			StartIdleTimeout: 60,
			IdleTimeout:      5,
			LogLevel:         "mirrord=info,warn",
			JSONLog:          true,
		},
		Container: ContainerConfig{
			HostGatewayDetection: true,
			CLITLSPath:           "/opt/mirrord/tls/mirrord-tls.pem",
		},
		Experimental: ExperimentalConfig{
			TCPPing4Mock:                   true,
			EnableExecHooksLinux:           true,
			UseDevNull:                     true,
			IdleLocalHTTPConnectionTimeout: 3000,
		},
		StartupRetry: StartupRetryConfig{MinMS: 500, MaxMS: 5000, MaxRetries: 2},
	}
}
