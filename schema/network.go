package schema

// NetworkConfig controls incoming traffic, outgoing traffic and DNS.
type NetworkConfig struct {
	// Traffic that reaches the target: `"mirror"` (a copy), `"steal"` (the
	// local process answers), `"off"`, `true`, `false`, or an object.
	Incoming IncomingConfig `json:"incoming"`
	// Connections the local process makes: `true` (made from the target),
	// `false` (made locally), or an object.
	Outgoing OutgoingConfig `json:"outgoing"`
	// Name resolution: `true` (resolved in the cluster), `false` (locally),
	// or an object.
	DNS DNSConfig `json:"dns"`
	// IPv6 support.
	IPv6 bool `json:"ipv6"`
}

// Incoming modes.
const (
	IncomingMirror = "mirror"
	IncomingSteal  = "steal"
	IncomingOff    = "off"
)

// IncomingConfig controls traffic that reaches the target.
type IncomingConfig struct {
	// `mirror`: the local process gets a copy while the target keeps
	// answering. `steal`: the local process answers instead. `off`: nothing.
	Mode string `json:"mode" jsonschema:"enum=mirror,enum=steal,enum=off"`
	// Steal only the HTTP requests that match. Needs mode steal.
	HTTPFilter HTTPFilterConfig `json:"http_filter"`
	// Pairs `[local, remote]`: the local port a process listens on, mapped
	// to the target's port whose traffic it gets.
	PortMapping []PortPair `json:"port_mapping,omitempty"`
	// Pairs `[requested, actual]`: when the process asks to listen on the
	// first port, it listens locally on the second.
	ListenPorts []PortPair `json:"listen_ports,omitempty" jsonschema:"format=unique-pairs"`
	// Do not subscribe ports bound on localhost.
	IgnoreLocalhost bool `json:"ignore_localhost"`
	// Ports that are never subscribed. Exclusive with ports.
	IgnorePorts []Port `json:"ignore_ports,omitempty"`
	// Only these ports are subscribed. Exclusive with ignore_ports.
	Ports []Port `json:"ports,omitempty"`
	// Operator only: what happens when another session steals the same port:
	// `abort`, `continue` or `override`.
	OnConcurrentSteal string `json:"on_concurrent_steal" jsonschema:"enum=abort,enum=continue,enum=override"`
	// Operator only: deliver stolen TLS traffic to the local process over TLS.
	TLSDelivery *TLSDelivery `json:"tls_delivery,omitempty"`
	// Deprecated name of tls_delivery.
	HTTPSDelivery *TLSDelivery `json:"https_delivery,omitempty"`
}

// HTTPFilterConfig selects the HTTP requests to steal. Use at most one of
// header_filter, path_filter, method_filter, header_filter_jq, body_filter,
// all_of and any_of.
type HTTPFilterConfig struct {
	// Regex matched against each `Name: value` header line, for example
	// `^x-user: me$`. Lookaround is allowed.
	HeaderFilter string `json:"header_filter,omitempty" jsonschema:"format=http-regex,minLength=1"`
	// Regex matched against the request path.
	PathFilter string `json:"path_filter,omitempty" jsonschema:"format=http-regex,minLength=1"`
	// HTTP method to steal, for example `POST`.
	MethodFilter string `json:"method_filter,omitempty" jsonschema:"minLength=1"`
	// jq program over the headers that must return true.
	HeaderFilterJQ string `json:"header_filter_jq,omitempty" jsonschema:"format=jq,minLength=1"`
	// Filter on the request body.
	BodyFilter *BodyFilter `json:"body_filter,omitempty"`
	// Every filter in the list must match.
	AllOf []InnerFilter `json:"all_of,omitempty" jsonschema:"minItems=1"`
	// At least one filter in the list must match.
	AnyOf []InnerFilter `json:"any_of,omitempty" jsonschema:"minItems=1"`
	// Ports the filter applies to (a port or a list). When unset, all ports.
	Ports PortList `json:"ports,omitempty"`
}

// InnerFilter is one element of all_of or any_of; it has exactly one key.
type InnerFilter struct {
	// Regex matched against each header line.
	Header string `json:"header,omitempty" jsonschema:"format=http-regex,minLength=1"`
	// Regex matched against the path.
	Path string `json:"path,omitempty" jsonschema:"format=http-regex,minLength=1"`
	// HTTP method.
	Method string `json:"method,omitempty" jsonschema:"minLength=1"`
	// jq program over the headers.
	HeaderJQ string `json:"header_jq,omitempty" jsonschema:"format=jq,minLength=1"`
	// Filter on the body.
	Body *BodyFilter `json:"body,omitempty"`
}

// BodyFilter matches a JSON body: the values selected by a JSONPath query
// must match a regex.
type BodyFilter struct {
	// The body type; only `json`.
	Body string `json:"body" jsonschema:"required,enum=json"`
	// JSONPath query, for example `$.user.name`.
	Query string `json:"query" jsonschema:"required,format=jsonpath"`
	// Regex the selected values must match.
	Matches string `json:"matches" jsonschema:"required,format=http-regex"`
}

// TLSDelivery describes how stolen TLS traffic reaches the local process.
type TLSDelivery struct {
	// `tls` or `tcp`.
	Protocol string `json:"protocol" jsonschema:"required,enum=tls,enum=tcp"`
	// PEM files trusted to verify the local server.
	TrustRoots []string `json:"trust_roots,omitempty"`
	// Server name used in the TLS handshake.
	ServerName string `json:"server_name,omitempty"`
	// The local server's certificate.
	ServerCert string `json:"server_cert,omitempty"`
}

// OutgoingConfig controls connections made by the local process.
type OutgoingConfig struct {
	// Make TCP connections from the target.
	TCP bool `json:"tcp"`
	// Send UDP traffic from the target.
	UDP bool `json:"udp"`
	// Keep connections to localhost local.
	IgnoreLocalhost bool `json:"ignore_localhost"`
	// Which destinations are remote or local: `{"remote": [...]}` or
	// `{"local": [...]}`. Entries are `[proto://][host|ip|cidr][:port]`.
	Filter *TrafficFilter `json:"filter,omitempty"`
	// Regexes of unix socket paths connected on the target.
	UnixStreams StringList `json:"unix_streams,omitempty" jsonschema:"format=regex"`
}

// DNSConfig controls name resolution.
type DNSConfig struct {
	// Resolve names in the cluster.
	Enabled bool `json:"enabled"`
	// Which names are resolved remotely or locally: `{"remote": [...]}` or
	// `{"local": [...]}`.
	Filter *TrafficFilter `json:"filter,omitempty"`
}

// TrafficFilter lists destinations; exactly one of remote and local is set.
type TrafficFilter struct {
	// Only these destinations go through the target.
	Remote StringList `json:"remote,omitempty" jsonschema:"format=traffic-filter"`
	// These destinations stay local; everything else goes through the target.
	Local StringList `json:"local,omitempty" jsonschema:"format=traffic-filter"`
}
