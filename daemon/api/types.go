package api

import "encoding/json"

// ClientInfo names the client, as LSP's clientInfo.
type ClientInfo struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// InitializeParams is LSP's InitializeParams, reduced to what the daemon
// reads; LSP clients may send more.
type InitializeParams struct {
	ProcessID             int                `json:"processId,omitempty"`
	ClientInfo            *ClientInfo        `json:"clientInfo,omitempty"`
	RootURI               string             `json:"rootUri,omitempty"`
	InitializationOptions *InitializeOptions `json:"initializationOptions,omitempty"`
	// ProtocolVersion is the api.ProtocolVersion the client was built for.
	ProtocolVersion int `json:"protocolVersion,omitempty"`
}

// InitializeOptions are the mirrord client's settings.
type InitializeOptions struct {
	// Update is the IDE's update policy; when set, the daemon checks for
	// updates in the background and sends update/available.
	Update *UpdatePolicy `json:"update,omitempty"`
}

// ServerInfo is LSP's serverInfo.
type ServerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// InitializeResult is both LSP's InitializeResult (capabilities,
// serverInfo) and the mirrord handshake.
type InitializeResult struct {
	// Capabilities are the LSP server capabilities of the config language
	// features (go.lsp.dev/protocol ServerCapabilities).
	Capabilities    any        `json:"capabilities" ts:"Record<string, unknown>" kt:"Map<String, Any?>"`
	ServerInfo      ServerInfo `json:"serverInfo"`
	Version         string     `json:"version"`
	BuildHash       string     `json:"buildHash"`
	ProtocolVersion int        `json:"protocolVersion"`
	// Features names the mirrord capabilities: targets, config, lang,
	// update, sessions.
	Features []string `json:"features"`
	// Methods lists every method and notification the daemon handles.
	Methods []string `json:"methods"`
	Pid     int      `json:"pid"`
}

// DaemonStatusResult describes the running daemon.
type DaemonStatusResult struct {
	Pid           int     `json:"pid"`
	Version       string  `json:"version"`
	BuildHash     string  `json:"buildHash"`
	Socket        string  `json:"socket"`
	LogFile       string  `json:"logFile"`
	StartedAt     string  `json:"startedAt"` // RFC 3339
	UptimeSeconds float64 `json:"uptimeSeconds"`
	Clients       int     `json:"clients"`
	Sessions      int     `json:"sessions"`
	// IdleTimeoutSeconds is how long the daemon stays up with no client
	// and no session (0: forever).
	IdleTimeoutSeconds float64 `json:"idleTimeoutSeconds"`
}

// ClusterParams choose the cluster: the config file's kubeconfig and
// kube_context, else the defaults (KUBECONFIG, ~/.kube/config).
type ClusterParams struct {
	ConfigPath string `json:"configPath,omitempty"`
	// Env is looked up for MIRRORD_* overrides and templating instead of
	// the daemon's own environment (an IDE's launch env).
	Env map[string]string `json:"env,omitempty"`
}

// TargetsListParams asks for the targets of a namespace.
type TargetsListParams struct {
	ClusterParams
	// Namespace defaults to the config's target.namespace, else the kube
	// context's.
	Namespace string `json:"namespace,omitempty"`
	// Types are target kinds (pod, deployment, rollout, job, cronjob,
	// statefulset, service, replicaset), listed in this order; empty
	// means pod, deployment, rollout.
	Types []string `json:"types,omitempty"`
	// IncludeUnavailable also lists pods that are not running and ready
	// and deployments with no available replica, with available=false.
	IncludeUnavailable bool `json:"includeUnavailable,omitempty"`
}

// Target is one target of a list.
type Target struct {
	Path      string `json:"path"` // e.g. deployment/web, pod/web-1/container/app
	Kind      string `json:"kind"`
	Available bool   `json:"available"`
}

// TargetsListResult is the targets of a namespace.
type TargetsListResult struct {
	Targets          []Target `json:"targets"`
	CurrentNamespace string   `json:"currentNamespace"`
	Namespaces       []string `json:"namespaces"`
	KubeContext      string   `json:"kubeContext"`
}

// NamespacesListParams choose the cluster.
type NamespacesListParams struct {
	ClusterParams
}

// NamespacesListResult lists the namespaces.
type NamespacesListResult struct {
	Namespaces       []string `json:"namespaces"`
	CurrentNamespace string   `json:"currentNamespace"`
	KubeContext      string   `json:"kubeContext"`
}

// TargetsChangedParams names a namespace whose targets changed.
type TargetsChangedParams struct {
	Namespace   string `json:"namespace"`
	KubeContext string `json:"kubeContext"`
}

// ConfigDiscoverParams name a workspace folder (a path or file:// URI).
type ConfigDiscoverParams struct {
	WorkspaceFolder string `json:"workspaceFolder"`
	// Active is the config the user picked in the IDE, if any.
	Active string `json:"active,omitempty"`
	// Env is looked up for MIRRORD_CONFIG_FILE; nil means the daemon's.
	Env map[string]string `json:"env,omitempty"`
}

// ConfigDiscoverResult is the config that applies and the candidates.
type ConfigDiscoverResult struct {
	Default    string   `json:"default"` // absolute path, "" when none
	Source     string   `json:"source"`  // active | env | workspace | none
	Candidates []string `json:"candidates"`
}

// ConfigChangedParams reports a change to a config candidate.
type ConfigChangedParams struct {
	WorkspaceFolder string `json:"workspaceFolder"`
	Path            string `json:"path"`
	Op              string `json:"op"` // created | changed | removed
	// Discover is the discovery result after the change.
	Discover ConfigDiscoverResult `json:"discover"`
}

// ConfigResolveParams resolve a config file (or none).
type ConfigResolveParams struct {
	Path string `json:"path,omitempty"`
	// Overrides are MIRRORD_* variables that win over Env and the file.
	Overrides map[string]string `json:"overrides,omitempty"`
	// Env is the launch environment, for templating and MIRRORD_*
	// variables; nil means the daemon's.
	Env map[string]string `json:"env,omitempty"`
	// Cwd is where {{ git_branch }} is looked up.
	Cwd string `json:"cwd,omitempty"`
}

// Issue is a config problem; line and col are 1-based, 0 when unknown.
type Issue struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// ConfigResolveResult is the resolved config.
type ConfigResolveResult struct {
	// Config is the resolved config as the JSON the schema describes.
	Config    json.RawMessage `json:"config" ts:"Record<string, unknown>" kt:"Map<String, Any?>"`
	Warnings  []Issue         `json:"warnings"`
	Errors    []Issue         `json:"errors"`
	TargetSet bool            `json:"targetSet"`
	// Target is the config's target path ("" when none, "targetless").
	Target string `json:"target"`
	// Namespace is the config's target.namespace.
	Namespace string `json:"namespace"`
}

// ConfigValidateParams name a file, or give its text and format.
type ConfigValidateParams struct {
	Path   string `json:"path,omitempty"`
	Text   string `json:"text,omitempty"`
	Format string `json:"format,omitempty"` // json | toml | yaml, with text
}

// Position is a 0-based LSP position (UTF-16 columns).
type Position struct {
	Line      int `json:"line"`
	Character int `json:"character"`
}

// Range is an LSP range.
type Range struct {
	Start Position `json:"start"`
	End   Position `json:"end"`
}

// Diagnostic is an LSP diagnostic (severity 1 error, 2 warning).
type Diagnostic struct {
	Range    Range  `json:"range"`
	Severity int    `json:"severity"`
	Source   string `json:"source,omitempty"`
	Message  string `json:"message"`
}

// ConfigValidateResult is the diagnostics of a config.
type ConfigValidateResult struct {
	Diagnostics []Diagnostic `json:"diagnostics"`
}

// SchemaGetResult is the config's JSON Schema.
type SchemaGetResult struct {
	Schema json.RawMessage `json:"schema" ts:"Record<string, unknown>" kt:"Map<String, Any?>"`
}

// UpdatePolicy mirrors the IDE settings.
type UpdatePolicy struct {
	// AutoUpdate is true (auto), false (disabled) or a pinned "x.y.z".
	AutoUpdate any `json:"autoUpdate" ts:"boolean | string" kt:"Any?"`
	// BinaryPath is the user's own binary: when set, nothing is updated.
	BinaryPath string `json:"binaryPath,omitempty"`
}

// UpdateCheckParams carry the policy.
type UpdateCheckParams struct {
	UpdatePolicy
}

// UpdateCheckResult says what is available.
type UpdateCheckResult struct {
	Current   string `json:"current"`
	Latest    string `json:"latest"`
	Available bool   `json:"available"`
	// Path is the binary the IDE should run: binaryPath, the installed
	// current version, or "" for the one it already uses.
	Path string `json:"path"`
}

// UpdateApplyParams name the version to install ("" = the latest allowed
// by the policy).
type UpdateApplyParams struct {
	UpdatePolicy
	Version string `json:"version,omitempty"`
}

// UpdateApplyResult is what was installed.
type UpdateApplyResult struct {
	Version  string `json:"version"`
	Path     string `json:"path"`
	Previous string `json:"previous"`
}

// SessionsStartParams start a session.
type SessionsStartParams struct {
	ConfigPath string `json:"configPath,omitempty"`
	Target     string `json:"target,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	// LaunchEnv is the environment the program will be launched with; the
	// runner reads MIRRORD_* settings from it.
	LaunchEnv    map[string]string `json:"launchEnv,omitempty"`
	Cwd          string            `json:"cwd,omitempty"`
	DebuggerType string            `json:"debuggerType,omitempty"`
	// WorkDoneToken is the LSP progress token for $/progress; "" lets the
	// daemon use the session id.
	WorkDoneToken string `json:"workDoneToken,omitempty"`
}

// SessionsStartResult is the env that makes a launched process join.
type SessionsStartResult struct {
	SessionID string            `json:"sessionId"`
	Env       map[string]string `json:"env"`
	Unset     []string          `json:"unset"`
	Target    string            `json:"target"`
	Warnings  []string          `json:"warnings"`
	// Reused is true when a warm runner (and its agent) was reused.
	Reused bool `json:"reused"`
}

// SessionsStopParams name a session.
type SessionsStopParams struct {
	SessionID string `json:"sessionId"`
}

// Session describes a live session.
type Session struct {
	SessionID string `json:"sessionId"`
	Target    string `json:"target"`
	Pid       int    `json:"pid"`
	StartedAt string `json:"startedAt"`
	// State is starting, running or warm (kept for reuse after its
	// processes exited).
	State string `json:"state"`
}

// SessionsListResult lists the sessions.
type SessionsListResult struct {
	Sessions []Session `json:"sessions"`
}

// SessionEndedParams report why a session ended.
type SessionEndedParams struct {
	SessionID string `json:"sessionId"`
	Reason    string `json:"reason"`
	ExitCode  int    `json:"exitCode"`
}

// ProgressParams is LSP's $/progress with a work-done value.
type ProgressParams struct {
	Token string        `json:"token"`
	Value ProgressValue `json:"value"`
}

// ProgressValue is LSP's WorkDoneProgressBegin/Report/End.
type ProgressValue struct {
	Kind    string `json:"kind"` // begin | report | end
	Title   string `json:"title,omitempty"`
	Message string `json:"message,omitempty"`
}

// RunnerResult is the one JSON line `mirrord runner` prints on stdout once
// its session serves: what to lay over the launch env so that a program
// started with it joins the session. The daemon's sessions/start returns
// it inside SessionsStartResult.
type RunnerResult struct {
	// Env is the variables to set: the target's env merged per feature.env
	// where it differs from the launch env, plus LD_PRELOAD and the
	// MIRRORD_LAYER_* variables of the bootstrap.
	Env map[string]string `json:"env"`
	// Unset is the launch env's variables to remove.
	Unset []string `json:"unset"`
	// Target is the target path, or "targetless".
	Target   string   `json:"target"`
	Warnings []string `json:"warnings"`
}
