package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mirrord-go/mirrord/schema"
)

// sessionFlag is one of upstream's shared ExecParams flags: each stands for
// a MIRRORD_* override, so a flag and its variable behave the same and flags
// win over the environment.
type sessionFlag struct {
	long, short, usage string
	envs               []string // the overrides it sets
	boolValue          string   // for boolean flags: the value written to envs
	optional           string   // for string flags that may be given bare
}

var sessionFlags = []sessionFlag{
	{long: "target", short: "t", usage: "target: pod/x, deploy/x, statefulset/x, job/x, cronjob/x, service/x, rollout/x, [.../container/c], or targetless", envs: []string{"MIRRORD_IMPERSONATED_TARGET"}},
	{long: "target-namespace", short: "n", usage: "namespace of the target", envs: []string{"MIRRORD_TARGET_NAMESPACE"}},
	{long: "agent-namespace", short: "a", usage: "namespace to create the agent in", envs: []string{"MIRRORD_AGENT_NAMESPACE"}},
	{long: "agent-log-level", short: "l", usage: "agent log level", envs: []string{"MIRRORD_AGENT_RUST_LOG"}},
	{long: "agent-image", short: "i", usage: "agent image (repository:tag)", envs: []string{"MIRRORD_AGENT_IMAGE"}},
	{long: "agent-ttl", usage: "seconds the finished agent Job is kept", envs: []string{"MIRRORD_AGENT_TTL"}},
	{long: "agent-startup-timeout", usage: "seconds to wait for the agent to be ready", envs: []string{"MIRRORD_AGENT_STARTUP_TIMEOUT"}},
	{long: "ephemeral-container", short: "e", usage: "run the agent as an ephemeral container of the target pod", envs: []string{"MIRRORD_EPHEMERAL_CONTAINER"}, boolValue: "true"},
	{long: "fs-mode", usage: "file operations: read, write, local or localwithoverrides", envs: []string{"MIRRORD_FILE_MODE"}},
	{long: "override-env-vars-exclude", short: "x", usage: "target variables not to take (;-separated, * and ? wildcards)", envs: []string{"MIRRORD_OVERRIDE_ENV_VARS_EXCLUDE"}},
	{long: "override-env-vars-include", short: "s", usage: "only these target variables (;-separated, * and ? wildcards)", envs: []string{"MIRRORD_OVERRIDE_ENV_VARS_INCLUDE"}},
	{long: "env-file", usage: "a .env file whose values override the target's", envs: []string{"MIRRORD_OVERRIDE_ENV_VARS_FILE"}},
	{long: "no-remote-dns", usage: "resolve names locally", envs: []string{"MIRRORD_REMOTE_DNS"}, boolValue: "false"},
	{long: "skip-processes", usage: "executables not to run under mirrord (;-separated)", envs: []string{"MIRRORD_SKIP_PROCESSES"}},
	{long: "accept-invalid-certificates", short: "c", usage: "accept the API server's certificate even when it is not valid", envs: []string{"MIRRORD_ACCEPT_INVALID_CERTIFICATES"}, optional: "true"},
	{long: "steal", usage: "steal incoming traffic instead of mirroring it", envs: []string{"MIRRORD_AGENT_TCP_STEAL_TRAFFIC"}, boolValue: "true"},
	{long: "no-outgoing", usage: "no outgoing traffic through the pod", envs: []string{"MIRRORD_TCP_OUTGOING", "MIRRORD_UDP_OUTGOING"}, boolValue: "false"},
	{long: "no-tcp-outgoing", usage: "no outgoing TCP through the pod", envs: []string{"MIRRORD_TCP_OUTGOING"}, boolValue: "false"},
	{long: "no-udp-outgoing", usage: "no outgoing UDP through the pod", envs: []string{"MIRRORD_UDP_OUTGOING"}, boolValue: "false"},
	{long: "no-telemetry", usage: "no telemetry (there is none; accepted for compatibility)", envs: []string{"MIRRORD_TELEMETRY"}, boolValue: "false"},
	{long: "context", usage: "kube context to use", envs: []string{"MIRRORD_KUBE_CONTEXT"}},
	{long: "key", short: "k", usage: "session key, available to templates as {{ key }}", envs: []string{"MIRRORD_KEY"}},
}

// defaultConfigFile is what a bare -f means, as upstream.
const defaultConfigFile = "./.mirrord/mirrord.json"

// addSessionFlags registers the shared flags on cmd, plus -f and
// --disable-version-check.
func addSessionFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	for _, f := range sessionFlags {
		if f.boolValue != "" {
			fs.BoolP(f.long, f.short, false, f.usage)
			continue
		}
		fs.StringP(f.long, f.short, "", f.usage)
		if f.optional != "" {
			fs.Lookup(f.long).NoOptDefVal = f.optional
		}
	}
	fs.StringP("config-file", "f", "", "config file (JSON, TOML or YAML); bare -f means "+defaultConfigFile)
	fs.Bool("disable-version-check", false, "accepted for compatibility; there is no version check")
}

// loadSessionConfig resolves the config from -f (or MIRRORD_CONFIG_FILE),
// the environment and the flags given.
func loadSessionConfig(cmd *cobra.Command) (*schema.Result, error) {
	flags := map[string]schema.Flag{}
	fs := cmd.Flags()
	for _, f := range sessionFlags {
		pf := fs.Lookup(f.long)
		if pf == nil || !pf.Changed {
			continue
		}
		val := pf.Value.String()
		if f.boolValue != "" {
			if val != "true" {
				continue
			}
			val = f.boolValue
		}
		for _, env := range f.envs {
			flags[env] = schema.Flag{Name: flagName(pf), Value: val}
		}
	}
	path, _ := fs.GetString("config-file")
	if path == "" {
		path = os.Getenv("MIRRORD_CONFIG_FILE")
	}
	res := schema.Load(path, schema.Options{Flags: flags, Stdin: cmd.InOrStdin()})
	if err := res.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// bareConfigFlag gives a bare -f (upstream: "./.mirrord/mirrord.json") its
// value before cobra parses, so that `-f path` keeps working too. It stops
// at "--": what follows belongs to the program.
func bareConfigFlag(args []string) []string {
	out := make([]string, 0, len(args)+1)
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		out = append(out, a)
		if (a == "-f" || a == "--config-file") && (i+1 == len(args) || strings.HasPrefix(args[i+1], "-")) {
			out = append(out, defaultConfigFile)
		}
	}
	return out
}

func flagName(f *pflag.Flag) string {
	if f.Shorthand != "" {
		return fmt.Sprintf("-%s/--%s", f.Shorthand, f.Name)
	}
	return "--" + f.Name
}

// warnConfig shows the config's warnings (unsupported keys and the like).
func warnConfig(res *schema.Result, warn func(string)) {
	for _, w := range res.Warnings {
		warn(strings.TrimSpace(w.String()))
	}
}
