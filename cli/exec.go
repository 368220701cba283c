package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/cli/internal/progress"
	"github.com/mirrord-go/mirrord/layer"
	"github.com/mirrord-go/mirrord/schema"
	"github.com/mirrord-go/mirrord/session"
)

func newExecCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec [flags] <program> [args...]",
		Short: "Run a program in the context of a pod",
		Long: `Run a local program with the target pod's context: mirrord starts an agent
beside the target, fetches the pod's environment variables and starts the
program with them (filtered by feature.env). The program's exit code becomes
mirrord's exit code, and the agent is removed when the program ends.

Examples:
  mirrord exec -t deploy/web -n mirrord-e2e -- sh -c 'env'
  mirrord exec -f .mirrord/mirrord.json -- go run .`,
		Args: cobra.MinimumNArgs(1),
		RunE: runExec,
	}
	cmd.Flags().SetInterspersed(false)
	addSessionFlags(cmd)
	return cmd
}

// newProgress picks the progress display from MIRRORD_PROGRESS_MODE.
func newProgress(cmd *cobra.Command, root string) (*progress.Progress, error) {
	mode, err := progress.ParseMode(os.Getenv("MIRRORD_PROGRESS_MODE"))
	if err != nil {
		return nil, err
	}
	if mode == progress.JSON {
		return progress.New(cmd.OutOrStdout(), mode, false, root), nil
	}
	return progress.New(cmd.ErrOrStderr(), mode, term.IsTerminal(int(os.Stderr.Fd())), root), nil
}

// startSession loads the config and starts a session, cancelled (and
// cleaned up) by SIGINT or SIGTERM while it starts.
func startSession(cmd *cobra.Command, client string, p *progress.Progress) (*session.Session, error) {
	res, err := loadSessionConfig(cmd)
	if err != nil {
		return nil, err
	}
	return startSessionWith(cmd, client, p, res, nil)
}

// startSessionWith starts a session with an already loaded config. in,
// when set, receives the target's incoming traffic: the agent is asked
// at once whether it can capture it, so that a leftover of a dead agent
// fails the start instead of the program's first listen.
func startSessionWith(cmd *cobra.Command, client string, p *progress.Progress, res *schema.Result, in *layer.Incoming) (*session.Session, error) {
	warnConfig(res, p.Warn)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := session.Options{Config: res.Config, Progress: p, Client: client}
	if in != nil {
		o.OnStream, o.OnEvent = in.OnStream, in.OnEvent
	}
	s, err := session.Start(ctx, o)
	if err != nil {
		if ctx.Err() != nil && cmd.Context().Err() == nil {
			return nil, errors.New("interrupted while starting the session; the agent was removed")
		}
		return nil, err
	}
	if in != nil {
		in.Attach(s.Conn)
		if s.Target != nil {
			done := p.Task("preparing incoming traffic")
			err := s.Conn.Call(ctx, protocol.KindPrepareIncoming, protocol.PrepareIncomingRequest{Mode: string(res.Config.Feature.Network.Incoming.Mode)}, nil)
			done(err)
			if err != nil {
				s.Close(context.WithoutCancel(ctx))
				return nil, fmt.Errorf("feature.network.incoming: %w", err)
			}
		}
	}
	return s, nil
}

// newIncoming is the receiver of the target's traffic, or nil when
// feature.network.incoming is off.
func newIncoming(cfg *schema.Config, log *slog.Logger) *layer.Incoming {
	if m := cfg.Feature.Network.Incoming.Mode; m == "" || m == schema.IncomingOff {
		return nil
	}
	return layer.NewIncoming(log)
}

func runExec(cmd *cobra.Command, args []string) error {
	p, err := newProgress(cmd, "mirrord exec")
	if err != nil {
		return err
	}
	// Fail on a typo before anything is created in the cluster.
	if _, err := exec.LookPath(args[0]); err != nil {
		return &exitError{code: 127, err: fmt.Errorf("%s: %w", args[0], errors.Unwrap(err))}
	}
	res, err := loadSessionConfig(cmd)
	if err != nil {
		return err
	}
	// Refuse an unusable kernel before anything is created in the cluster.
	if _, err := layer.CheckKernel(); err != nil {
		return err
	}
	in := newIncoming(res.Config, slog.New(warnHandler{p: p}))
	if in != nil {
		defer in.Close()
	}
	s, err := startSessionWith(cmd, "mirrord exec", p, res, in)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(cmd.Context()))
	done := p.Task("fetching the target's environment")
	env, err := s.RemoteEnv(cmd.Context(), os.Environ())
	done(err)
	if err != nil {
		return err
	}
	code, err := runProgram(cmd, s, res.Config, p, args, env.Vars, in)
	if in != nil {
		in.Close() // unsubscribes while the session still works
	}
	if cerr := s.Close(context.WithoutCancel(cmd.Context())); cerr != nil {
		p.Warn(cerr.Error())
	}
	if err != nil {
		return &exitError{code: code, err: err}
	}
	return &exitError{code: code}
}

// runProgram runs the program under the layer, in the foreground, and
// returns its exit code. Ctrl-C reaches the program through the terminal's
// process group, so mirrord only survives it and waits; SIGTERM and SIGHUP
// are passed on. If the session is lost the program is stopped (SIGTERM,
// then SIGKILL 5 s later), since it would go on without the pod's context.
func runProgram(cmd *cobra.Command, s *session.Session, cfg *schema.Config, p *progress.Progress, args, env []string, in *layer.Incoming) (int, error) {
	ints := make(chan os.Signal, 1)
	signal.Notify(ints, os.Interrupt)
	defer signal.Stop(ints)

	ctx, cancel := context.WithCancel(context.WithoutCancel(cmd.Context()))
	defer cancel()
	var lost error
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-s.Done():
			lost = fmt.Errorf("%w; stopped %s", s.Err(), args[0])
			cancel()
		case <-ctx.Done():
		}
	}()
	timeout := session.DefaultCommunicationTimeout
	if cfg.Agent.CommunicationTimeout != nil {
		timeout = time.Duration(*cfg.Agent.CommunicationTimeout) * time.Second
	}
	code, err := layer.Exec(ctx, layer.ExecOptions{
		Argv:          args,
		Env:           env,
		Session:       s.Conn,
		Features:      cfg.Feature,
		Skip:          layer.SkipNames(cfg),
		Stdio:         layer.Stdio{In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), Err: cmd.ErrOrStderr()},
		Logger:        slog.New(warnHandler{p: p}),
		RemoteTimeout: timeout,
		Signals:       []os.Signal{syscall.SIGTERM, syscall.SIGHUP},
		Incoming:      in,
		Targetless:    s.Target == nil,
	})
	cancel()
	<-watchDone
	if lost != nil {
		return 1, lost
	}
	if err != nil && code < 0 {
		return 126, err
	}
	return code, err
}

// warnHandler shows the layer's warnings and errors as progress warnings
// (so they follow MIRRORD_PROGRESS_MODE), and debug logs when
// MIRRORD_LOG_LEVEL=debug asks for them.
type warnHandler struct {
	p     *progress.Progress
	attrs []slog.Attr
}

func (h warnHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || (l >= slog.LevelDebug && os.Getenv("MIRRORD_LOG_LEVEL") == "debug")
}

func (h warnHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	switch {
	case r.Level < slog.LevelWarn:
		fmt.Fprintf(os.Stderr, "mirrord: %s\n", b.String())
	case r.Level >= slog.LevelError:
		// An error makes the program fail (a refused listen): it is shown
		// even with progress off, or the failure would be unexplained.
		h.p.Error(b.String())
	default:
		h.p.Warn(b.String())
	}
	return nil
}

func (h warnHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return warnHandler{p: h.p, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h warnHandler) WithGroup(string) slog.Handler { return h }
