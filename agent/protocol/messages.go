package protocol

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/fxamacker/cbor/v2"
)

// Version is the protocol version this build speaks best. Versions lists
// every version it can speak; Hello carries it and the agent settles on the
// highest one both sides know.
const Version uint16 = 1

// Versions are the versions this build can speak, newest first.
var Versions = []uint16{1}

// Kind names a control request or a stream. Kinds are strings on the wire so
// that logs and captures read without a table, and so that an unknown kind
// is an explicit "unsupported" error rather than a misparse.
type Kind string

// Control requests (Envelope.Kind). Each lists its request and response body.
const (
	// KindInfo: InfoRequest → AgentInfo.
	KindInfo Kind = "info"
	// KindEnv: EnvRequest → EnvResponse, the target process's environment.
	KindEnv Kind = "env"
	// KindHostname: HostnameRequest → HostnameResponse (uname emulation).
	KindHostname Kind = "hostname"
	// KindLookup: LookupRequest → LookupResponse, name resolution as the
	// target pod does it (its /etc/hosts, resolv.conf and nameserver).
	KindLookup Kind = "dns.lookup"
	// KindResolvConf: ResolvConfRequest → ResolvConf, the target's DNS setup.
	KindResolvConf Kind = "dns.config"

	// File operations on the target's filesystem, paths as the target sees them.
	KindOpen     Kind = "fs.open"     // OpenRequest → OpenResponse
	KindRead     Kind = "fs.read"     // ReadRequest → ReadResponse
	KindWrite    Kind = "fs.write"    // WriteRequest → WriteResponse
	KindClose    Kind = "fs.close"    // CloseRequest → Empty
	KindStat     Kind = "fs.stat"     // StatRequest → FileStat
	KindReaddir  Kind = "fs.readdir"  // ReaddirRequest → ReaddirResponse
	KindReadlink Kind = "fs.readlink" // ReadlinkRequest → ReadlinkResponse
	KindAccess   Kind = "fs.access"   // AccessRequest → Empty

	// Incoming traffic: the agent redirects a port of the target and opens a
	// KindIncomingConn stream to the client for each connection.
	KindSubscribe   Kind = "incoming.subscribe"   // SubscribeRequest → SubscribeResponse
	KindUnsubscribe Kind = "incoming.unsubscribe" // UnsubscribeRequest → Empty
	// KindPrepareIncoming: PrepareIncomingRequest → Empty.
	KindPrepareIncoming Kind = "incoming.prepare"
)

// Stream kinds (StreamHeader.Kind).
const (
	// StreamTCP is opened by the client: the agent connects to Addr from the
	// target's network namespace and the stream carries the raw bytes.
	StreamTCP Kind = "tcp.connect"
	// StreamUDP is opened by the client: the agent "connects" a UDP socket to
	// Addr and the stream carries datagrams, each one frame (DatagramConn).
	StreamUDP Kind = "udp.connect"
	// StreamIncoming is opened by the agent: one connection that reached a
	// subscribed port, mirrored or stolen.
	StreamIncoming Kind = "incoming.conn"
)

// Event kinds: agent-initiated Envelopes with ID 0.
const (
	// EventLog: LogEvent, an agent-side message worth showing the user.
	EventLog Kind = "log"
	// EventSubscriptionLost: SubscriptionLost, a subscription ended by the agent.
	EventSubscriptionLost Kind = "incoming.lost"
)

// Envelope is one message on the control stream. A request has an ID > 0;
// its response carries the same ID with Reply set and either Body or Err.
// ID 0 marks an event.
type Envelope struct {
	ID    uint64          `cbor:"id"`
	Kind  Kind            `cbor:"kind"`
	Reply bool            `cbor:"reply,omitempty"`
	Body  cbor.RawMessage `cbor:"body,omitempty"`
	Err   *Error          `cbor:"err,omitempty"`
}

// Error is a failure reported by the peer. Errno carries the Linux errno
// when one applies (file and socket operations), so the layer can hand the
// application the errno the pod would have produced.
type Error struct {
	Code  Code   `cbor:"code"`
	Errno int    `cbor:"errno,omitempty"`
	Msg   string `cbor:"msg"`
}

// Code classifies an Error.
type Code string

// Error codes.
const (
	CodeUnsupported Code = "unsupported" // the peer does not know this kind
	CodeInvalid     Code = "invalid"     // the request is malformed
	CodeNotFound    Code = "not_found"
	CodePermission  Code = "permission"
	CodeUnreachable Code = "unreachable" // connect or lookup failed
	CodeInternal    Code = "internal"
	// CodeConflict: the port is already taken by another subscription
	// (a second unfiltered steal, or another agent's capture).
	CodeConflict Code = "conflict"
	// CodeDirty: the target has leftover capture rules of another agent.
	CodeDirty Code = "dirty"
)

func (e *Error) Error() string {
	if e.Errno != 0 {
		return fmt.Sprintf("%s (%s, errno %d)", e.Msg, e.Code, e.Errno)
	}
	return fmt.Sprintf("%s (%s)", e.Msg, e.Code)
}

// Errno returns the error as a syscall.Errno when the peer gave one.
func (e *Error) AsErrno() (syscall.Errno, bool) {
	return syscall.Errno(e.Errno), e.Errno != 0
}

// ErrorOf turns a handler error into an Error, keeping an errno found in
// the chain and a code given by a wrapped *Error.
func ErrorOf(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	out := &Error{Code: CodeInternal, Msg: err.Error()}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		out.Errno = int(errno)
		switch errno {
		case syscall.ENOENT:
			out.Code = CodeNotFound
		case syscall.EACCES, syscall.EPERM:
			out.Code = CodePermission
		case syscall.ECONNREFUSED, syscall.ENETUNREACH, syscall.EHOSTUNREACH, syscall.ETIMEDOUT:
			out.Code = CodeUnreachable
		case syscall.EINVAL:
			out.Code = CodeInvalid
		}
	}
	return out
}

// Errorf builds an Error with a code.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Empty is the body of requests and responses that carry nothing.
type Empty struct{}

// Hello is the client's first frame.
type Hello struct {
	// Versions the client speaks, newest first.
	Versions []uint16 `cbor:"versions"`
	// Token is the per-session secret. The agent knows only its SHA-256.
	Token string `cbor:"token"`
	// Client names the client and its version, for the agent's log.
	Client string `cbor:"client"`
}

// Welcome is the agent's answer to Hello. A non-empty Error means the agent
// refused the session and is closing the connection.
type Welcome struct {
	Version uint16 `cbor:"version"`
	Agent   string `cbor:"agent"`
	Error   string `cbor:"error,omitempty"`
}

// InfoRequest asks for AgentInfo.
type InfoRequest struct{}

// AgentInfo describes the agent and what it is attached to.
type AgentInfo struct {
	// Version is the agent build's version (the CLI's, when they match).
	Version string `cbor:"version"`
	// Mode is "targeted", "ephemeral" or "targetless".
	Mode string `cbor:"mode"`
	// PID is the target container's main process as the agent sees it (0
	// when targetless).
	PID int `cbor:"pid,omitempty"`
	// PodIPs of the target (or of the agent when targetless).
	PodIPs []string `cbor:"pod_ips,omitempty"`
}

// EnvRequest asks for the target process's environment.
type EnvRequest struct{}

// EnvResponse is the environment as read from /proc/<pid>/environ, in order.
type EnvResponse struct {
	Vars []EnvVar `cbor:"vars"`
}

// EnvVar is one NAME=value pair. Order is kept because it matters to shells.
type EnvVar struct {
	Name  string `cbor:"n"`
	Value string `cbor:"v"`
}

// HostnameRequest asks for the target's hostname.
type HostnameRequest struct{}

// HostnameResponse carries the target's hostname.
type HostnameResponse struct {
	Hostname string `cbor:"hostname"`
}

// LookupRequest resolves Name the way the target would.
type LookupRequest struct {
	Name string `cbor:"name"`
	// Family is 0 for both, 4 or 6.
	Family int `cbor:"family,omitempty"`
}

// LookupResponse lists the addresses, as netip strings, IPv4 first.
type LookupResponse struct {
	Addrs []string `cbor:"addrs"`
	// Canonical is the fully qualified name that answered (after search
	// domains), as getaddrinfo's AI_CANONNAME would report it.
	Canonical string `cbor:"canonical,omitempty"`
}

// ResolvConfRequest asks for the target's DNS configuration.
type ResolvConfRequest struct{}

// ResolvConf is the target's /etc/resolv.conf, parsed.
type ResolvConf struct {
	Nameservers []string `cbor:"nameservers"`
	Search      []string `cbor:"search,omitempty"`
	Ndots       int      `cbor:"ndots"`
}

// OpenRequest opens a file on the target. Flags and Mode are Linux open(2)
// values.
type OpenRequest struct {
	Path  string `cbor:"path"`
	Flags int    `cbor:"flags"`
	Mode  uint32 `cbor:"mode,omitempty"`
}

// OpenResponse identifies the open file for later requests.
type OpenResponse struct {
	Handle uint64   `cbor:"handle"`
	Stat   FileStat `cbor:"stat"`
}

// ReadRequest reads up to Size bytes at Offset (pread semantics).
type ReadRequest struct {
	Handle uint64 `cbor:"handle"`
	Offset int64  `cbor:"offset"`
	Size   int    `cbor:"size"`
}

// ReadResponse carries the bytes read; fewer than asked only at EOF.
type ReadResponse struct {
	Data []byte `cbor:"data"`
	EOF  bool   `cbor:"eof,omitempty"`
}

// WriteRequest writes Data at Offset (pwrite semantics).
type WriteRequest struct {
	Handle uint64 `cbor:"handle"`
	Offset int64  `cbor:"offset"`
	Data   []byte `cbor:"data"`
}

// WriteResponse reports how much was written.
type WriteResponse struct {
	N int `cbor:"n"`
}

// CloseRequest releases a handle.
type CloseRequest struct {
	Handle uint64 `cbor:"handle"`
}

// StatRequest stats Path, or Handle when Path is empty. NoFollow gives lstat.
type StatRequest struct {
	Path     string `cbor:"path,omitempty"`
	Handle   uint64 `cbor:"handle,omitempty"`
	NoFollow bool   `cbor:"nofollow,omitempty"`
}

// FileStat is the part of struct stat the layer reproduces.
type FileStat struct {
	Mode  uint32 `cbor:"mode"` // st_mode: type and permission bits
	Size  int64  `cbor:"size"`
	Ino   uint64 `cbor:"ino"`
	Dev   uint64 `cbor:"dev"`
	Nlink uint64 `cbor:"nlink"`
	UID   uint32 `cbor:"uid"`
	GID   uint32 `cbor:"gid"`
	Rdev  uint64 `cbor:"rdev,omitempty"`
	// Times in nanoseconds since the epoch.
	Atime   int64 `cbor:"atime"`
	Mtime   int64 `cbor:"mtime"`
	Ctime   int64 `cbor:"ctime"`
	Blksize int64 `cbor:"blksize"`
	Blocks  int64 `cbor:"blocks"`
}

// ReaddirRequest lists a directory.
type ReaddirRequest struct {
	Path string `cbor:"path"`
}

// ReaddirResponse lists the entries, without "." and "..".
type ReaddirResponse struct {
	Entries []DirEntry `cbor:"entries"`
}

// DirEntry is one directory entry; Type is the d_type value.
type DirEntry struct {
	Name string `cbor:"name"`
	Ino  uint64 `cbor:"ino"`
	Type uint8  `cbor:"type"`
}

// ReadlinkRequest reads a symlink.
type ReadlinkRequest struct {
	Path string `cbor:"path"`
}

// ReadlinkResponse is the link's target.
type ReadlinkResponse struct {
	Target string `cbor:"target"`
}

// AccessRequest checks access(2) permissions.
type AccessRequest struct {
	Path string `cbor:"path"`
	Mode uint32 `cbor:"mode"`
}

// SubscribeRequest asks the agent to deliver the connections that reach
// Port of the target.
type SubscribeRequest struct {
	Port uint16 `cbor:"port"`
	// Mode is ModeMirror (copies; the app in the pod still answers) or
	// ModeSteal.
	Mode string `cbor:"mode"`
	// HTTPFilter, when set (steal only), steals only the HTTP requests that
	// match; the others, and non-HTTP connections, reach the app in the pod.
	HTTPFilter *HTTPFilter `cbor:"http_filter,omitempty"`
}

// Subscription modes.
const (
	ModeMirror = "mirror"
	ModeSteal  = "steal"
)

// HTTPFilter selects HTTP requests. Exactly one field is set; AllOf and
// AnyOf combine inner filters. Regexes are case-insensitive, unanchored
// and may use lookaround.
type HTTPFilter struct {
	// Header is matched against each header rendered "lowercase-name: value".
	Header string `cbor:"header,omitempty"`
	// Path is matched against the path, and then against path?query.
	Path string `cbor:"path,omitempty"`
	// Method is compared case-insensitively.
	Method string `cbor:"method,omitempty"`
	// AllOf matches when every inner filter does; AnyOf when one does.
	AllOf []HTTPFilter `cbor:"all_of,omitempty"`
	AnyOf []HTTPFilter `cbor:"any_of,omitempty"`
}

// PrepareIncomingRequest is sent once before the first subscription (at
// session start): the agent checks that it can capture traffic in the
// target (no leftover rules of a dead agent, unless it may clean them).
// KindPrepareIncoming → Empty.
type PrepareIncomingRequest struct {
	// Mode is the session's mode: a mirror-only session does not fail
	// where stealing would not work, only on leftover rules.
	Mode string `cbor:"mode,omitempty"`
}

// SubscribeResponse identifies the subscription in IncomingHeader and
// UnsubscribeRequest.
type SubscribeResponse struct {
	ID uint64 `cbor:"id"`
}

// UnsubscribeRequest ends a subscription.
type UnsubscribeRequest struct {
	ID uint64 `cbor:"id"`
}

// LogEvent is an agent message for the user.
type LogEvent struct {
	Level string `cbor:"level"`
	Msg   string `cbor:"msg"`
}

// SubscriptionLost tells the client the agent ended a subscription.
type SubscriptionLost struct {
	ID     uint64 `cbor:"id"`
	Reason string `cbor:"reason"`
}

// StreamHeader is the first frame of every data stream.
type StreamHeader struct {
	Kind Kind `cbor:"kind"`
	// Addr is host:port for StreamTCP and StreamUDP. A host name is resolved
	// the way KindLookup does.
	Addr string `cbor:"addr,omitempty"`
	// Incoming connection details (StreamIncoming).
	Subscription uint64 `cbor:"sub,omitempty"`
	Peer         string `cbor:"peer,omitempty"`  // the remote client, ip:port
	Local        string `cbor:"local,omitempty"` // the pod address it reached, ip:port
}

// StreamReply answers a StreamHeader. With Err set the stream is closed.
type StreamReply struct {
	Err *Error `cbor:"err,omitempty"`
	// Local and Remote are the addresses of the agent-side socket.
	Local  string `cbor:"local,omitempty"`
	Remote string `cbor:"remote,omitempty"`
}
