//go:build linux

// Package agentmain is the mirrord-agent program: it reads the command line
// and environment, finds the target, listens on 127.0.0.1, announces
// readiness on stdout (the CLI follows the pod log for that line) and
// serves clients until the lifecycle rules of package server end it. It
// lives apart from cmd/mirrord-agent so that the whole program, exit codes
// included, can be run by tests.
package agentmain

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/mirrord-go/mirrord/agent/internal/config"
	"github.com/mirrord-go/mirrord/agent/internal/handler"
	"github.com/mirrord-go/mirrord/agent/internal/incoming"
	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
	"github.com/mirrord-go/mirrord/agent/internal/server"
	"github.com/mirrord-go/mirrord/agent/internal/target"
	"github.com/mirrord-go/mirrord/internal/buildinfo"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	// ExitUsage is a bad command line or environment.
	ExitUsage = 2
)

// ReadyLine is what the agent prints on stdout once it accepts clients.
func ReadyLine(version string) string { return "agent ready - version " + version }

// Main runs the agent and returns its exit code. SIGTERM and SIGINT end it.
func Main(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return Run(ctx, args, getenv, stdout, stderr, target.Finder{})
}

// Run is Main with the context and the target finder given (tests point
// the finder at their own processes).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, finder target.Finder) int {
	cfg, err := config.Parse(args, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "mirrord-agent: %v\n%s\n", err, config.Usage)
		return ExitUsage
	}
	log := newLogger(cfg, stderr)
	if cfg.LogWarning != "" {
		log.Warn(cfg.LogWarning)
	}
	log.Info("starting", "version", buildinfo.Version, "mode", cfg.Mode, "port", cfg.Port,
		"communication_timeout", cfg.CommunicationTimeout, "idle_ttl", cfg.IdleTTL)

	finder.Log = log
	tgt, err := finder.Find(ctx, cfg)
	if err != nil {
		return fail(stderr, fmt.Errorf("finding the target: %w", err))
	}
	a := handler.New(buildinfo.Version, string(cfg.Mode), tgt.PID, cfg.Mode != config.Targeted,
		cfg.DNSTimeout, cfg.DNSAttempts, log)
	// Entering the namespace now turns a missing capability into a clear
	// error at start instead of a failure of the first request.
	addrs, err := nsenter.Interfaces(a.Net)
	if err != nil {
		return fail(stderr, fmt.Errorf("using the target's network namespace (pid %d): %w", tgt.PID, err))
	}
	log.Info("target network", "pid", tgt.PID, "addresses", len(addrs))
	if cfg.Mode != config.Targetless {
		a.Incoming = incoming.New(incoming.Options{
			NS: a.Net, Owner: owner(), FlushConnections: cfg.FlushConnections,
			CleanLeftovers: cfg.CleanIptablesOnStart, DetectTimeout: cfg.HTTPDetectionTimeout, Log: log,
		})
		// Removes the capture table on every exit path; a SIGKILL is
		// covered by the kernel (the table is owned by the agent's socket).
		defer func() {
			if err := a.Incoming.Close(); err != nil {
				log.Warn("closing incoming traffic", "err", err)
			}
		}()
		if cfg.NFTables != nil && !*cfg.NFTables {
			log.Info("agent.nftables=false is ignored: this agent always captures with nf_tables over netlink")
		}
	}

	// Only loopback of the agent's own network namespace: the agent is
	// reachable through the API server's port-forward and nothing else.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fail(stderr, fmt.Errorf("listening on 127.0.0.1:%d (-l): %w", cfg.Port, err))
	}
	fmt.Fprintln(stdout, ReadyLine(buildinfo.Version))
	err = server.Run(ctx, ln, server.Options{
		TokenHash: cfg.TokenHash, Agent: "mirrord-agent/" + buildinfo.Version,
		CommunicationTimeout: cfg.CommunicationTimeout, IdleTTL: cfg.IdleTTL,
		NewHandler: a.NewSession, Log: log,
	})
	switch {
	case err == nil:
		log.Info("exiting")
		return ExitOK
	case server.IsNoClient(err):
		fmt.Fprintf(stderr, "mirrord-agent: %v\n", err)
		return ExitOK
	}
	return fail(stderr, err)
}

// owner names this agent in its capture table: the pod's name (the
// hostname of a Job pod; ephemeral agents share their target's) and a
// random part, so that two agents in one pod never share a table.
func owner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s_%x", host, b)
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "mirrord-agent: %v\n", err)
	return ExitError
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.JSONLog {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
