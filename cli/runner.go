package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mirrord-go/mirrord/cli/internal/progress"
	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/layer"
	"github.com/mirrord-go/mirrord/schema"
	"github.com/mirrord-go/mirrord/session"
)

// RunnerResult is what the runner prints; see api.RunnerResult.
type RunnerResult = api.RunnerResult

func newRunnerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runner [flags]",
		Short: "Run a session that programs join through the environment it prints",
		Long: `Start a session (the agent, its connection and the supervisor socket) and
print, as one JSON line on stdout, the environment that makes a program join
it: {"env":{...},"unset":[...],"target":"...","warnings":[...]}. Programs
started with that environment (by an IDE, a shell or the mirrord daemon) run
in the target's context, with their whole process tree.

The launch env (the environment the programs will be started with, which the
target's variables are merged into) is this process's own environment, or a
JSON object {"NAME":"value",...} read from --launch-env (a file, or - for the
first line of stdin).

The runner serves until SIGINT or SIGTERM, until stdin closes (with
--stdin-lifetime), until every process that joined has exited and --grace
has passed, or until no process joined within --start-timeout. The agent,
the socket and the files it made are then removed.`,
		Hidden:      true,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{"ide": "true"},
		RunE:        runRunner,
	}
	addSessionFlags(cmd)
	fs := cmd.Flags()
	fs.String("launch-env", "", `JSON object of the launch env: a file, or "-" for the first line of stdin (default: this process's env)`)
	fs.Bool("stdin-lifetime", false, "stop when stdin reaches EOF (a parent that dies takes the session with it)")
	fs.Duration("start-timeout", layer.DefaultStartTimeout, "stop when no process joined within this time")
	fs.Duration("grace", layer.DefaultGrace, "after the last process exited, wait this long for a new one before stopping")
	return cmd
}

func runRunner(cmd *cobra.Command, _ []string) error {
	// A signal at any moment must end the session cleanly (the agent is
	// deleted), not kill the runner: whoever reads the line may stop it
	// at once.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// stdout carries exactly one line, so progress always goes to stderr.
	mode, err := progress.ParseMode(os.Getenv("MIRRORD_PROGRESS_MODE"))
	if err != nil {
		return err
	}
	p := progress.New(cmd.ErrOrStderr(), mode, mode != progress.JSON && term.IsTerminal(int(os.Stderr.Fd())), "mirrord runner")
	stdin := bufio.NewReader(cmd.InOrStdin())
	launch, err := readLaunchEnv(cmd, stdin)
	if err != nil {
		return err
	}
	res, err := loadSessionConfig(cmd)
	if err != nil {
		return err
	}
	if _, err := layer.CheckKernel(); err != nil {
		return err
	}
	in := newIncoming(res.Config, slog.New(warnHandler{p: p}))
	if in != nil {
		defer in.Close()
	}
	s, err := startSessionWith(cmd, "mirrord runner", p, res, in)
	if err != nil {
		return err
	}
	ctx := context.WithoutCancel(cmd.Context())
	defer s.Close(ctx)
	if in != nil {
		defer in.Close() // first: the ports go back while the session works
	}
	cfg := res.Config
	timeout := session.DefaultCommunicationTimeout
	if cfg.Agent.CommunicationTimeout != nil {
		timeout = time.Duration(*cfg.Agent.CommunicationTimeout) * time.Second
	}
	done := p.Task("fetching the target's environment")
	env, err := s.RemoteEnv(cmd.Context(), launch)
	done(err)
	if err != nil {
		return err
	}
	startTimeout, _ := cmd.Flags().GetDuration("start-timeout")
	grace, _ := cmd.Flags().GetDuration("grace")
	done = p.Task("starting the supervisor")
	srv, err := layer.Listen(layer.ServeOptions{
		Session: s.Conn, Features: cfg.Feature, Skip: layer.SkipNames(cfg),
		StartTimeout: startTimeout, StartTimeoutKey: "--start-timeout", Grace: grace,
		RemoteTimeout: timeout, Logger: slog.New(warnHandler{p: p}),
		Incoming: in, Targetless: s.Target == nil,
		// The daemon learns from this line that a session is idle (its
		// processes exited) and may hand it to the next start.
		OnLive: func(live int) {
			if mode == progress.JSON {
				p.Emit(map[string]any{"type": "SessionState", "live": live})
			}
		},
	})
	done(err)
	if err != nil {
		return err
	}
	out := runnerResult(launch, env.Vars, srv.Env(lookupEnv(launch, "LD_PRELOAD")), res, s)
	line, err := json.Marshal(out)
	if err != nil {
		return fmt.Errorf("encoding the runner's result: %w", err)
	}
	if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\n", line); err != nil {
		return fmt.Errorf("printing the session's environment: %w", err)
	}
	// Marks the end of the start's progress on stderr: a reader of both
	// pipes knows it has seen every step once this arrives.
	p.Emit(map[string]any{"type": "Ready"})
	return serveRunner(cmd, srv, s, stdin, sigs)
}

// serveRunner serves until a stop condition; see newRunnerCmd.
func serveRunner(cmd *cobra.Command, srv *layer.Server, s *session.Session, stdin io.Reader, sigs <-chan os.Signal) error {
	ctx, cancel := context.WithCancelCause(cmd.Context())
	defer cancel(nil)
	go func() {
		select {
		case <-sigs:
			cancel(context.Canceled)
		case <-ctx.Done():
		}
	}()
	if life, _ := cmd.Flags().GetBool("stdin-lifetime"); life {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel(errStdinClosed)
		}()
	}
	go func() {
		select {
		case <-s.Done():
			cancel(fmt.Errorf("the session ended: %w", s.Err()))
		case <-ctx.Done():
		}
	}()
	err := srv.Serve(ctx)
	if ctx.Err() != nil {
		// Stopped from outside: a signal or stdin is a normal end; a lost
		// session is the error to report.
		if cause := context.Cause(ctx); !errors.Is(cause, errStdinClosed) && !errors.Is(cause, context.Canceled) {
			return cause
		}
		return nil
	}
	return err
}

var errStdinClosed = errors.New("stdin closed")

// readLaunchEnv reads --launch-env; without it the launch env is ours.
func readLaunchEnv(cmd *cobra.Command, stdin *bufio.Reader) ([]string, error) {
	src, _ := cmd.Flags().GetString("launch-env")
	if src == "" {
		return os.Environ(), nil
	}
	var b []byte
	var err error
	if src == "-" {
		b, err = stdin.ReadBytes('\n')
		if errors.Is(err, io.EOF) && len(b) > 0 {
			err = nil
		}
	} else {
		b, err = os.ReadFile(src)
	}
	if err != nil {
		return nil, fmt.Errorf("reading --launch-env %s: %w", src, err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("--launch-env %s: expected a JSON object of strings, {\"NAME\":\"value\",...}: %w", src, err)
	}
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env, nil
}

func lookupEnv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// runnerResult is the difference between the launch env and the merged
// one, plus the layer's variables.
func runnerResult(launch, merged []string, layerEnv map[string]string, res *schema.Result, s *session.Session) RunnerResult {
	before, after := envMap(launch), envMap(merged)
	out := RunnerResult{Env: map[string]string{}, Unset: []string{}, Target: schema.KindTargetless, Warnings: []string{}}
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			out.Env[k] = v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out.Unset = append(out.Unset, k)
		}
	}
	slices.Sort(out.Unset)
	for k, v := range layerEnv {
		out.Env[k] = v
	}
	if s.Target != nil && res.Config.Target.Path != nil {
		out.Target = res.Config.Target.Path.String()
	}
	for _, w := range res.Warnings {
		out.Warnings = append(out.Warnings, strings.TrimSpace(w.String()))
	}
	return out
}
