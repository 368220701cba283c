package schema

// FeatureConfig selects which parts of the target's context the local process
// gets.
type FeatureConfig struct {
	// Environment variables: `true` (all the target's variables, the default),
	// `false` (none), or an object.
	Env EnvConfig `json:"env"`
	// File operations: `true`, `false` (all local), a mode (`"read"`,
	// `"write"`, `"local"`, `"localwithoverrides"`), or an object.
	FS FSConfig `json:"fs"`
	// Network: `true`, `false`, or an object with incoming, outgoing and dns.
	Network NetworkConfig `json:"network"`
	// Report the target pod's hostname to the local process.
	Hostname bool `json:"hostname"`
	// Automatic fixes for common setups.
	Magic MagicConfig `json:"magic"`
	// Operator only: run against a copy of the target instead of the target.
	// `true`, `false`, or an object.
	CopyTarget CopyTargetConfig `json:"copy_target"`
	// Operator only: split queue messages (SQS, Kafka, RabbitMQ, ...) between
	// the remote and the local consumer.
	SplitQueues any `json:"split_queues,omitempty"`
	// Operator only: give the session its own database branches.
	DBBranches any `json:"db_branches,omitempty"`
	// Operator only: preview environments.
	Preview *PreviewConfig `json:"preview,omitempty"`
}

// EnvConfig says which of the target's environment variables the local
// process gets, and how they are changed. Order of application: remote
// (filtered by include/exclude), then env_file, then mapping, then override.
type EnvConfig struct {
	// Only these variables are taken from the target. A `;`-separated string
	// or a list; `*` and `?` are wildcards. Exclusive with exclude.
	Include StringList `json:"include,omitempty"`
	// These variables are not taken from the target. A `;`-separated string
	// or a list; `*` and `?` are wildcards. Exclusive with include.
	Exclude StringList `json:"exclude,omitempty"`
	// Variables set to these values, whatever the target has.
	Override map[string]string `json:"override,omitempty"`
	// Regex to value: variables whose name matches get the value, in which
	// `$1` or `${name}` refer to capture groups of the name.
	Mapping map[string]string `json:"mapping,omitempty" mirrord:"keyformat=regex"`
	// Variables removed from the local process's environment (names are
	// matched case-insensitively).
	Unset StringList `json:"unset,omitempty"`
	// A dotenv file whose values override the target's.
	EnvFile string `json:"env_file,omitempty"`
	// Fetch the environment from the started process instead of before it
	// starts.
	LoadFromProcess *bool `json:"load_from_process,omitempty"`
}

// FS modes.
const (
	FSRead               = "read"
	FSWrite              = "write"
	FSLocal              = "local"
	FSLocalWithOverrides = "localwithoverrides"
)

// FSConfig routes file operations between the local machine and the target.
type FSConfig struct {
	// `read`: files are read from the target, writes stay local. `write`:
	// reads and writes go to the target. `local`: everything is local.
	// `localwithoverrides`: local except the patterns below.
	Mode string `json:"mode" jsonschema:"enum=read,enum=write,enum=local,enum=localwithoverrides"`
	// Regexes of paths read and written on the target.
	ReadWrite StringList `json:"read_write,omitempty" jsonschema:"format=regex"`
	// Regexes of paths read from the target; writes to them fail.
	ReadOnly StringList `json:"read_only,omitempty" jsonschema:"format=regex"`
	// Regexes of paths that stay local.
	Local StringList `json:"local,omitempty" jsonschema:"format=regex"`
	// Regexes of paths that appear not to exist.
	NotFound StringList `json:"not_found,omitempty" jsonschema:"format=regex"`
	// Regex to replacement: a matching path is rewritten before routing,
	// with `$1` referring to capture groups.
	Mapping map[string]string `json:"mapping,omitempty" mirrord:"keyformat=regex"`
	// Bytes read at once from a read-only remote file. Above 1 MiB gives a
	// warning, above 15 MiB an error.
	ReadonlyFileBuffer int `json:"readonly_file_buffer" jsonschema:"minimum=0,maximum=15728640"`
}

// MagicConfig turns automatic fixes on or off.
type MagicConfig struct {
	// Drop local AWS credentials variables so the target's are used.
	AWS bool `json:"aws"`
	// Make the target's volume mounts remote automatically.
	AutoMount bool `json:"auto_mount"`
	// Speed-ups that skip work known to be unnecessary.
	Turbo bool `json:"turbo"`
}

// CopyTargetConfig (operator only) runs the session against a copy of the
// target pod.
type CopyTargetConfig struct {
	// Copy the target.
	Enabled bool `json:"enabled"`
	// Scale the original workload down while the copy runs.
	ScaleDown bool `json:"scale_down"`
	// Containers left out of the copy.
	ExcludeContainers []string `json:"exclude_containers,omitempty"`
	// Init containers left out of the copy.
	ExcludeInitContainers []string `json:"exclude_init_containers,omitempty"`
}

// PreviewConfig (operator only) describes a preview environment.
type PreviewConfig struct {
	// Image of the preview pod.
	Image string `json:"image,omitempty"`
	// Lifetime in minutes, or `"infinite"`.
	TTLMins *Duration `json:"ttl_mins,omitempty"`
	// Lifetime in seconds, or `"infinite"`.
	TTLSecs *Duration `json:"ttl_secs,omitempty"`
	// Seconds to wait for the preview to be created.
	CreationTimeoutSecs *int `json:"creation_timeout_secs,omitempty" jsonschema:"minimum=0"`
	// Number of preview pods.
	Replicas *int `json:"replicas,omitempty" jsonschema:"minimum=0"`
	// Which labels of the target the preview keeps.
	Labels *PreviewLabels `json:"labels,omitempty"`
	// Scale-to-zero settings.
	Idle *PreviewIdle `json:"idle,omitempty"`
	// ConfigMaps mounted into the preview.
	ConfigMounts []any `json:"config_mounts,omitempty"`
	// Secrets mounted into the preview.
	SecretMounts []any `json:"secret_mounts,omitempty"`
}

// PreviewLabels filters the labels a preview copies.
type PreviewLabels struct {
	// Labels copied.
	Include StringList `json:"include,omitempty"`
	// Labels not copied.
	Exclude StringList `json:"exclude,omitempty"`
}

// PreviewIdle configures scale-to-zero of a preview.
type PreviewIdle struct {
	// Start scaled to zero.
	StartIdle *bool `json:"start_idle,omitempty"`
	// Seconds of inactivity before scaling to zero.
	SleepAfterSecs *int `json:"sleep_after_secs,omitempty" jsonschema:"minimum=0"`
	// Seconds to wait for a wake-up. Defaults to the operator's default (90).
	WakeTimeoutSecs *int `json:"wake_timeout_secs,omitempty" jsonschema:"minimum=0"`
}
