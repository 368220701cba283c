// Package config turns the agent's command line and environment into one
// validated Config. The command line has upstream mirrord's shape
// (`mirrord-agent -l <port> -t <seconds> <mode> ...`) because the pod spec
// that starts the agent is written by another program: a mistake there must
// stop the agent at once with a message that names the bad argument, not
// leave a half-working agent for the user to puzzle over.
package config

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Mode is how the agent relates to its target.
type Mode string

// Modes, named as on the command line and in protocol.AgentInfo.
const (
	// Targeted: a Job on the target's node with hostPID; the agent finds
	// the target container's process and enters its network namespace.
	Targeted Mode = "targeted"
	// Ephemeral: an ephemeral container inside the target pod, sharing the
	// target container's PID and network namespaces.
	Ephemeral Mode = "ephemeral"
	// Targetless: a plain pod with no target process.
	Targetless Mode = "targetless"
)

// Container runtimes accepted by --container-runtime.
const (
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimeDocker     = "docker"
)

// Environment variables the agent reads.
const (
	EnvTokenHash   = "MIRRORD_AGENT_TOKEN_SHA256"
	EnvIdleTTL     = "MIRRORD_AGENT_IDLE_TTL"
	EnvLogLevel    = "MIRRORD_AGENT_LOG_LEVEL"
	EnvRustLog     = "RUST_LOG"
	EnvJSONLog     = "MIRRORD_AGENT_JSON_LOG"
	EnvDNSTimeout  = "MIRRORD_AGENT_DNS_TIMEOUT"
	EnvDNSAttempts = "MIRRORD_AGENT_DNS_ATTEMPTS"
	// Incoming traffic (agent.flush_connections, agent.clean_iptables_on_start,
	// agent.nftables, agent.http_detection_timeout), upstream's names.
	EnvFlushConnections     = "MIRRORD_AGENT_STEALER_FLUSH_CONNECTIONS"
	EnvCleanIptablesOnStart = "MIRRORD_AGENT_CLEAN_IPTABLES_ON_START"
	EnvNFTables             = "MIRRORD_AGENT_NFTABLES"
	EnvHTTPDetectionTimeout = "MIRRORD_AGENT_HTTP_DETECTION_TIMEOUT"
	// EnvEphemeralContainerID names the target container in ephemeral mode
	// when the pod shares one PID namespace between its containers
	// (shareProcessNamespace): PID 1 is then the pause process.
	EnvEphemeralContainerID = "MIRRORD_AGENT_EPHEMERAL_TARGET_CONTAINER_ID"
)

// Defaults, as upstream's agent has them.
const (
	DefaultPort                 = 61337
	DefaultCommunicationTimeout = 30 * time.Second
)

// Config is everything the agent was told to do.
type Config struct {
	// Port is the TCP port on 127.0.0.1 (-l).
	Port int
	// CommunicationTimeout bounds the wait for the first client (-t).
	CommunicationTimeout time.Duration
	Mode                 Mode
	// ContainerID and Runtime identify the target container (targeted mode;
	// ContainerID also in ephemeral mode with a shared PID namespace).
	ContainerID string
	Runtime     string

	// TokenHash is the SHA-256 of the session token.
	TokenHash [32]byte
	// IdleTTL is how long the agent stays up after its last client left.
	IdleTTL  time.Duration
	LogLevel slog.Level
	// LogWarning is a problem with the log settings that did not stop the
	// agent (an unreadable RUST_LOG); it is logged once logging is set up.
	LogWarning string
	JSONLog    bool
	// DNSTimeout and DNSAttempts override the target resolv.conf's
	// options; zero keeps them.
	DNSTimeout  time.Duration
	DNSAttempts int
	// FlushConnections and CleanIptablesOnStart configure the capture of
	// stolen ports. NFTables is read for upstream compatibility only: this
	// agent always uses nf_tables through netlink.
	FlushConnections     bool
	CleanIptablesOnStart bool
	NFTables             *bool
	// HTTPDetectionTimeout is how long a filtered port waits for a
	// request's first bytes (zero: the default).
	HTTPDetectionTimeout time.Duration
}

// Usage is printed with every argument error.
const Usage = `usage: mirrord-agent [-l <port>] [-t <communication_timeout_seconds>] <mode>
modes:
  targeted --container-id <id> [--container-runtime containerd|cri-o|docker]
  ephemeral
  targetless
environment:
  ` + EnvTokenHash + `  hex SHA-256 of the session token (required)
  ` + EnvIdleTTL + `      seconds to stay up after the last client leaves (default 0)
  ` + EnvLogLevel + `     trace|debug|info|warn|error|off (RUST_LOG's simple forms are read too)
  ` + EnvJSONLog + `      true to log JSON lines
  ` + EnvDNSTimeout + `, ` + EnvDNSAttempts + `  override the target's resolv.conf options
  ` + EnvFlushConnections + `  true to reset established connections of a port when stealing starts
  ` + EnvCleanIptablesOnStart + `  true to delete capture tables left by dead agents
  ` + EnvHTTPDetectionTimeout + `  seconds a filtered port waits for a request's first bytes`

// Parse reads the command line (without the program name) and the
// environment (getenv). Errors name the argument or variable at fault.
func Parse(args []string, getenv func(string) string) (Config, error) {
	cfg := Config{}
	fs := flag.NewFlagSet("mirrord-agent", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&cfg.Port, "l", DefaultPort, "port to listen on (127.0.0.1)")
	timeout := fs.Int("t", int(DefaultCommunicationTimeout/time.Second), "seconds to wait for the first client")
	if err := fs.Parse(args); err != nil {
		return Config{}, fmt.Errorf("bad arguments: %w", err)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		return Config{}, fmt.Errorf("bad -l %d: the port must be in 1-65535", cfg.Port)
	}
	if *timeout < 1 {
		return Config{}, fmt.Errorf("bad -t %d: the communication timeout must be at least 1 second", *timeout)
	}
	cfg.CommunicationTimeout = time.Duration(*timeout) * time.Second
	if err := parseMode(&cfg, fs.Args()); err != nil {
		return Config{}, err
	}
	if err := parseEnv(&cfg, getenv); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func parseMode(cfg *Config, rest []string) error {
	if len(rest) == 0 {
		return errors.New("missing mode: give targeted, ephemeral or targetless after the flags")
	}
	cfg.Mode = Mode(rest[0])
	fs := flag.NewFlagSet("mirrord-agent "+rest[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	switch cfg.Mode {
	case Targeted:
		fs.StringVar(&cfg.ContainerID, "container-id", "", "target container id")
		fs.StringVar(&cfg.Runtime, "container-runtime", "", "containerd, cri-o or docker")
	case Ephemeral, Targetless:
	default:
		return fmt.Errorf("unknown mode %q: want targeted, ephemeral or targetless", rest[0])
	}
	if err := fs.Parse(rest[1:]); err != nil {
		return fmt.Errorf("bad arguments for mode %s: %w", cfg.Mode, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q after mode %s", fs.Arg(0), cfg.Mode)
	}
	if cfg.Mode != Targeted {
		return nil
	}
	// Pod status gives "containerd://<id>"; accept it as is.
	if rt, id, ok := strings.Cut(cfg.ContainerID, "://"); ok {
		cfg.ContainerID = id
		if cfg.Runtime == "" {
			cfg.Runtime = rt
		}
	}
	if cfg.ContainerID == "" {
		return errors.New("mode targeted needs --container-id <id> (the target container's id from the pod status)")
	}
	switch cfg.Runtime {
	case "", RuntimeContainerd, RuntimeCRIO, RuntimeDocker:
	default:
		return fmt.Errorf("bad --container-runtime %q: want containerd, cri-o or docker", cfg.Runtime)
	}
	return nil
}

func parseEnv(cfg *Config, getenv func(string) string) error {
	hash := strings.TrimSpace(getenv(EnvTokenHash))
	if hash == "" {
		return fmt.Errorf("%s is not set: the agent refuses to run without the hash of its session token", EnvTokenHash)
	}
	b, err := hex.DecodeString(hash)
	if err != nil || len(b) != len(cfg.TokenHash) {
		return fmt.Errorf("bad %s: want 64 hex digits (a SHA-256), got %d characters", EnvTokenHash, len(hash))
	}
	copy(cfg.TokenHash[:], b)
	if cfg.Mode == Ephemeral {
		cfg.ContainerID = strings.TrimSpace(getenv(EnvEphemeralContainerID))
	}

	if cfg.IdleTTL, err = seconds(getenv, EnvIdleTTL, true); err != nil {
		return err
	}
	if cfg.DNSTimeout, err = seconds(getenv, EnvDNSTimeout, false); err != nil {
		return err
	}
	if v := strings.TrimSpace(getenv(EnvDNSAttempts)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("bad %s %q: want a whole number of at least 1", EnvDNSAttempts, v)
		}
		cfg.DNSAttempts = n
	}
	if v := strings.TrimSpace(getenv(EnvJSONLog)); v != "" {
		if cfg.JSONLog, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("bad %s %q: want true or false", EnvJSONLog, v)
		}
	}
	if err := parseIncoming(cfg, getenv); err != nil {
		return err
	}
	cfg.LogLevel = slog.LevelInfo
	if v := strings.TrimSpace(getenv(EnvLogLevel)); v != "" {
		lvl, ok := ParseLevel(v)
		if !ok {
			return fmt.Errorf("bad %s %q: want trace, debug, info, warn, error or off", EnvLogLevel, v)
		}
		cfg.LogLevel = lvl
	} else if v := strings.TrimSpace(getenv(EnvRustLog)); v != "" {
		// RUST_LOG is written for upstream's agent and may hold filters this
		// agent cannot honour: use what it can read, never refuse to start.
		if lvl, ok := ParseLevel(v); ok {
			cfg.LogLevel = lvl
		} else {
			cfg.LogWarning = fmt.Sprintf("ignoring %s=%q: only a level (error, warn, info, debug, trace) or target=level pairs are understood; logging at info", EnvRustLog, v)
		}
	}
	return nil
}

func parseIncoming(cfg *Config, getenv func(string) string) error {
	for _, b := range []struct {
		key string
		dst *bool
	}{{EnvFlushConnections, &cfg.FlushConnections}, {EnvCleanIptablesOnStart, &cfg.CleanIptablesOnStart}} {
		if v := strings.TrimSpace(getenv(b.key)); v != "" {
			var err error
			if *b.dst, err = strconv.ParseBool(v); err != nil {
				return fmt.Errorf("bad %s %q: want true or false", b.key, v)
			}
		}
	}
	if v := strings.TrimSpace(getenv(EnvNFTables)); v != "" {
		n, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("bad %s %q: want true or false", EnvNFTables, v)
		}
		cfg.NFTables = &n
	}
	// Upstream sends whole seconds, and 0 for its default.
	var err error
	cfg.HTTPDetectionTimeout, err = seconds(getenv, EnvHTTPDetectionTimeout, true)
	return err
}

// seconds parses a non-negative number of seconds (fractions allowed);
// zero is allowed only when allowZero.
func seconds(getenv func(string) string, key string, allowZero bool) (time.Duration, error) {
	v := strings.TrimSpace(getenv(key))
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || (f == 0 && !allowZero) || f > 1e6 {
		return 0, fmt.Errorf("bad %s %q: want a number of seconds", key, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// LevelOff is above every level slog emits, so nothing is logged.
const LevelOff = slog.Level(100)

// ParseLevel reads a log level: a bare level ("debug"), or RUST_LOG's simple
// filter forms ("mirrord=debug", "warn,mirrord_agent=trace"), where a bare
// level wins and otherwise the most verbose target level is used.
func ParseLevel(s string) (slog.Level, bool) {
	var bare, target *slog.Level
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, lvl, isPair := strings.Cut(part, "=")
		if !isPair {
			lvl = name
		}
		l, ok := levelName(lvl)
		if !ok {
			return 0, false
		}
		switch {
		case !isPair:
			bare = &l
		case target == nil || l < *target:
			target = &l
		}
	}
	switch {
	case bare != nil:
		return *bare, true
	case target != nil:
		return *target, true
	}
	return 0, false
}

func levelName(s string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace", "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	case "off", "none":
		return LevelOff, true
	}
	return 0, false
}
