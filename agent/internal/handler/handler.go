//go:build linux

// Package handler answers a client's requests and streams on behalf of the
// target: its environment, hostname and DNS, and outgoing TCP and UDP from
// its network namespace. It is the protocol.Handler of every session; the
// listener and lifecycle live in package server.
//
// All the target-specific facts (which process, which namespaces, which
// filesystem root) are fixed once in Agent when the agent starts; a session
// only reads them, so sessions need no locking between them.
package handler

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mirrord-go/mirrord/agent/internal/incoming"
	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/resolver"
	"github.com/mirrord-go/mirrord/agent/protocol"
)

// Agent is what every session of this agent shares.
type Agent struct {
	Version string
	Mode    string
	// PID is the target process (0 when targetless).
	PID int
	// Root is the target's filesystem as the agent sees it
	// ("/proc/<pid>/root"); "" for the agent's own (targetless).
	Root string
	// Net and UTS are the namespaces to work in: the target's, or the
	// agent's own when it already lives in the pod.
	Net, UTS nsenter.Namespace
	Resolver *resolver.Resolver
	// ConnectTimeout bounds an outgoing connect (30 s when zero).
	ConnectTimeout time.Duration
	// Incoming serves subscriptions; nil when targetless (there is no
	// target whose traffic could be captured).
	Incoming *incoming.Manager
	Log      *slog.Logger
}

// New builds the Agent for a target. pid 0 means targetless; ownNS means
// the agent already shares the target's network and UTS namespaces
// (ephemeral mode), so nothing is entered.
func New(version, mode string, pid int, ownNS bool, dnsTimeout time.Duration, dnsAttempts int, log *slog.Logger) *Agent {
	a := &Agent{Version: version, Mode: mode, PID: pid, Log: log}
	nsPID := pid
	if ownNS {
		nsPID = 0
	}
	a.Net, a.UTS = nsenter.Of(nsPID, nsenter.Net), nsenter.Of(nsPID, nsenter.UTS)
	if pid != 0 {
		a.Root = fmt.Sprintf("/proc/%d/root", pid)
	}
	a.Resolver = &resolver.Resolver{
		Root: a.Root, Dial: nsenter.Dialer{NS: a.Net}.Dial,
		Timeout: dnsTimeout, Attempts: dnsAttempts,
	}
	return a
}

// NewSession is the newHandler of protocol.Serve.
func (a *Agent) NewSession(ss *protocol.ServerSession) protocol.Handler {
	return &session{agent: a, ss: ss}
}

type session struct {
	agent *Agent
	ss    *protocol.ServerSession
	files files
}

func (s *session) Call(ctx context.Context, kind protocol.Kind, body []byte) (any, error) {
	a := s.agent
	switch kind {
	case protocol.KindInfo:
		return a.Info()
	case protocol.KindEnv:
		vars, err := a.Env()
		return protocol.EnvResponse{Vars: vars}, err
	case protocol.KindHostname:
		name, err := a.Hostname()
		return protocol.HostnameResponse{Hostname: name}, err
	case protocol.KindResolvConf:
		return a.Resolver.ResolvConf()
	case protocol.KindLookup:
		var req protocol.LookupRequest
		if err := protocol.Unmarshal(body, &req); err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalid, "decoding %s request: %v", kind, err)
		}
		if req.Family != 0 && req.Family != 4 && req.Family != 6 {
			return nil, protocol.Errorf(protocol.CodeInvalid, "lookup of %s: family %d is not 0, 4 or 6", req.Name, req.Family)
		}
		return a.Resolver.Lookup(ctx, req.Name, req.Family)
	case protocol.KindOpen, protocol.KindRead, protocol.KindWrite, protocol.KindClose, protocol.KindStat,
		protocol.KindReaddir, protocol.KindReadlink, protocol.KindAccess:
		return s.callFS(kind, body)
	case protocol.KindPrepareIncoming, protocol.KindSubscribe, protocol.KindUnsubscribe:
		return s.callIncoming(ctx, kind, body)
	}
	return nil, protocol.Errorf(protocol.CodeUnsupported, "agent %s does not know the request %q", a.Version, kind)
}

// callIncoming serves the incoming.* requests.
func (s *session) callIncoming(ctx context.Context, kind protocol.Kind, body []byte) (any, error) {
	m := s.agent.Incoming
	if m == nil {
		return nil, protocol.Errorf(protocol.CodeUnsupported, "a targetless agent has no incoming traffic (%s)", kind)
	}
	switch kind {
	case protocol.KindPrepareIncoming:
		var req protocol.PrepareIncomingRequest
		if err := protocol.Unmarshal(body, &req); err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalid, "decoding %s request: %v", kind, err)
		}
		return protocol.Empty{}, m.Prepare(ctx, req.Mode)
	case protocol.KindSubscribe:
		var req protocol.SubscribeRequest
		if err := protocol.Unmarshal(body, &req); err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalid, "decoding %s request: %v", kind, err)
		}
		id, err := m.Subscribe(ctx, s.ss, req)
		return protocol.SubscribeResponse{ID: id}, err
	default:
		var req protocol.UnsubscribeRequest
		if err := protocol.Unmarshal(body, &req); err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalid, "decoding %s request: %v", kind, err)
		}
		return protocol.Empty{}, m.Unsubscribe(s.ss, req.ID)
	}
}

func (s *session) Stream(ctx context.Context, h protocol.StreamHeader, st *protocol.ClientStream) {
	switch h.Kind {
	case protocol.StreamTCP:
		s.agent.serveTCP(ctx, h.Addr, st)
	case protocol.StreamUDP:
		s.agent.serveUDP(ctx, h.Addr, st)
	case protocol.StreamUnix:
		s.agent.serveUnix(ctx, h.Addr, st)
	default:
		st.Refuse(protocol.Errorf(protocol.CodeUnsupported, "agent %s does not serve %q streams", s.agent.Version, h.Kind))
	}
}

// Info describes the agent and the target's addresses.
func (a *Agent) Info() (protocol.AgentInfo, error) {
	info := protocol.AgentInfo{Version: a.Version, Mode: a.Mode, PID: a.PID}
	addrs, err := nsenter.Interfaces(a.Net)
	if err != nil {
		return info, fmt.Errorf("reading the pod's addresses: %w", err)
	}
	info.PodIPs = podIPs(addrs)
	return info, nil
}

// podIPs keeps the global unicast addresses, IPv4 first.
func podIPs(addrs []net.Addr) []string {
	var v4, v6 []string
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr().Unmap()
		if !ip.IsGlobalUnicast() {
			continue
		}
		if ip.Is4() {
			v4 = append(v4, ip.String())
		} else {
			v6 = append(v6, ip.String())
		}
	}
	return append(v4, v6...)
}

// Env reads the target's environment, in order.
func (a *Agent) Env() ([]protocol.EnvVar, error) {
	if a.PID == 0 {
		return []protocol.EnvVar{}, nil
	}
	file := fmt.Sprintf("/proc/%d/environ", a.PID)
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the target's environment %s (the agent needs CAP_SYS_PTRACE): %w", file, err)
	}
	return ParseEnviron(data), nil
}

// ParseEnviron splits NUL-separated NAME=value entries, keeping their
// order; entries without '=' (which execve allows) are skipped.
func ParseEnviron(data []byte) []protocol.EnvVar {
	out := []protocol.EnvVar{}
	for _, entry := range bytes.Split(data, []byte{0}) {
		name, value, ok := strings.Cut(string(entry), "=")
		if !ok || name == "" {
			continue
		}
		out = append(out, protocol.EnvVar{Name: name, Value: value})
	}
	return out
}

// Hostname is the target's hostname, from its UTS namespace, else from
// its /etc/hostname.
func (a *Agent) Hostname() (string, error) {
	name, err := nsenter.Hostname(a.UTS)
	if err == nil {
		return name, nil
	}
	if a.Root == "" {
		return "", fmt.Errorf("reading the hostname: %w", err)
	}
	file := filepath.Join(a.Root, "etc", "hostname")
	data, ferr := os.ReadFile(file)
	if ferr != nil {
		return "", fmt.Errorf("reading the target's hostname: %v; %w", err, ferr)
	}
	return strings.TrimSpace(string(data)), nil
}

// resolve turns host:port into the addresses to try, in order.
func (a *Agent) resolve(ctx context.Context, addr string) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalid, "bad address %q: %v", addr, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
		return nil, protocol.Errorf(protocol.CodeInvalid, "bad port in %q", addr)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []string{net.JoinHostPort(ip.String(), port)}, nil
	}
	resp, err := a.Resolver.Lookup(ctx, host, 0)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(resp.Addrs))
	for i, ip := range resp.Addrs {
		out[i] = net.JoinHostPort(ip, port)
	}
	return out, nil
}
