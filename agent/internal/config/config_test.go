package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

const hash = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b" // sha256("secret")

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParse(t *testing.T) {
	base := []string{EnvTokenHash, hash}
	tests := []struct {
		name string
		args []string
		env  []string
		want func(t *testing.T, c Config)
	}{
		{"targeted upstream shape", []string{"-l", "40000", "-t", "12", "targeted", "--container-id", "abc123def4567890", "--container-runtime", "containerd"}, base,
			func(t *testing.T, c Config) {
				if c.Port != 40000 || c.CommunicationTimeout != 12*time.Second || c.Mode != Targeted ||
					c.ContainerID != "abc123def4567890" || c.Runtime != RuntimeContainerd {
					t.Errorf("got %+v", c)
				}
				if c.TokenHash[0] != 0x2b || c.TokenHash[31] != 0x5b {
					t.Errorf("token hash not decoded: %x", c.TokenHash)
				}
				if c.LogLevel != slog.LevelInfo || c.IdleTTL != 0 || c.JSONLog {
					t.Errorf("defaults: %+v", c)
				}
			}},
		{"defaults", []string{"targetless"}, base, func(t *testing.T, c Config) {
			if c.Port != DefaultPort || c.CommunicationTimeout != DefaultCommunicationTimeout || c.Mode != Targetless {
				t.Errorf("got %+v", c)
			}
		}},
		{"container id with runtime prefix", []string{"targeted", "--container-id=cri-o://0123456789abcdef"}, base, func(t *testing.T, c Config) {
			if c.ContainerID != "0123456789abcdef" || c.Runtime != RuntimeCRIO {
				t.Errorf("got id %q runtime %q", c.ContainerID, c.Runtime)
			}
		}},
		{"ephemeral with shared pid namespace", []string{"ephemeral"}, append(base, EnvEphemeralContainerID, "feedface00000000"), func(t *testing.T, c Config) {
			if c.Mode != Ephemeral || c.ContainerID != "feedface00000000" {
				t.Errorf("got %+v", c)
			}
		}},
		{"env knobs", []string{"targetless"}, append(base, EnvIdleTTL, "5", EnvLogLevel, "debug", EnvJSONLog, "true",
			EnvDNSTimeout, "0.5", EnvDNSAttempts, "3"), func(t *testing.T, c Config) {
			if c.IdleTTL != 5*time.Second || c.LogLevel != slog.LevelDebug || !c.JSONLog ||
				c.DNSTimeout != 500*time.Millisecond || c.DNSAttempts != 3 {
				t.Errorf("got %+v", c)
			}
		}},
		{"RUST_LOG simple form", []string{"targetless"}, append(base, EnvRustLog, "mirrord=trace,warn"), func(t *testing.T, c Config) {
			if c.LogLevel != slog.LevelWarn || c.LogWarning != "" {
				t.Errorf("level %v warning %q", c.LogLevel, c.LogWarning)
			}
		}},
		{"RUST_LOG unreadable is a warning", []string{"targetless"}, append(base, EnvRustLog, "mirrord=loud"), func(t *testing.T, c Config) {
			if c.LogLevel != slog.LevelInfo || !strings.Contains(c.LogWarning, "RUST_LOG") {
				t.Errorf("level %v warning %q", c.LogLevel, c.LogWarning)
			}
		}},
		{"MIRRORD_AGENT_LOG_LEVEL wins over RUST_LOG", []string{"targetless"}, append(base, EnvRustLog, "error", EnvLogLevel, "off"), func(t *testing.T, c Config) {
			if c.LogLevel != LevelOff {
				t.Errorf("level %v", c.LogLevel)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, env(tt.env...))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want(t, c)
		})
	}
}

func TestParseErrors(t *testing.T) {
	base := []string{EnvTokenHash, hash}
	tests := []struct {
		name string
		args []string
		env  []string
		want string // in the error
	}{
		{"no mode", []string{"-l", "1234"}, base, "missing mode"},
		{"unknown mode", []string{"sideways"}, base, `unknown mode "sideways"`},
		{"targeted without id", []string{"targeted"}, base, "--container-id"},
		{"bad runtime", []string{"targeted", "--container-id", "abcdef0123456789", "--container-runtime", "rkt"}, base, `--container-runtime "rkt"`},
		{"unknown flag", []string{"-x", "targetless"}, base, "-x"},
		{"flag of another mode", []string{"targetless", "--container-id", "a"}, base, "container-id"},
		{"extra argument", []string{"ephemeral", "extra"}, base, `"extra"`},
		{"bad port", []string{"-l", "70000", "targetless"}, base, "-l 70000"},
		{"bad port text", []string{"-l", "http", "targetless"}, base, "-l"},
		{"bad timeout", []string{"-t", "0", "targetless"}, base, "-t 0"},
		{"no token", []string{"targetless"}, nil, EnvTokenHash + " is not set"},
		{"bad token", []string{"targetless"}, []string{EnvTokenHash, "abc"}, "64 hex digits"},
		{"bad ttl", []string{"targetless"}, append(base, EnvIdleTTL, "soon"), EnvIdleTTL},
		{"negative ttl", []string{"targetless"}, append(base, EnvIdleTTL, "-1"), EnvIdleTTL},
		{"zero dns timeout", []string{"targetless"}, append(base, EnvDNSTimeout, "0"), EnvDNSTimeout},
		{"bad attempts", []string{"targetless"}, append(base, EnvDNSAttempts, "0"), EnvDNSAttempts},
		{"bad json flag", []string{"targetless"}, append(base, EnvJSONLog, "maybe"), EnvJSONLog},
		{"bad log level", []string{"targetless"}, append(base, EnvLogLevel, "loud"), EnvLogLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.args, env(tt.env...))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) error = %v; want one containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
		ok   bool
	}{
		{"info", slog.LevelInfo, true},
		{"TRACE", slog.LevelDebug, true},
		{"warn,mirrord=debug", slog.LevelWarn, true},
		{"mirrord_agent=debug,hyper=error", slog.LevelDebug, true},
		{"off", LevelOff, true},
		{"", 0, false},
		{"verbose", 0, false},
		{"a=b", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseLevel(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
