package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mirrord-go/mirrord/cli/internal/progress"
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
	warnConfig(res, p.Warn)
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := session.Start(ctx, session.Options{Config: res.Config, Progress: p, Client: client})
	if err != nil {
		if ctx.Err() != nil && cmd.Context().Err() == nil {
			return nil, errors.New("interrupted while starting the session; the agent was removed")
		}
		return nil, err
	}
	return s, nil
}

func runExec(cmd *cobra.Command, args []string) error {
	p, err := newProgress(cmd, "mirrord exec")
	if err != nil {
		return err
	}
	// Fail on a typo before anything is created in the cluster.
	path, err := exec.LookPath(args[0])
	if err != nil {
		return &exitError{code: 127, err: fmt.Errorf("%s: %w", args[0], errors.Unwrap(err))}
	}
	s, err := startSession(cmd, "mirrord exec", p)
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
	code, err := runProgram(cmd, s, path, args, env.Vars)
	if cerr := s.Close(context.WithoutCancel(cmd.Context())); cerr != nil {
		p.Warn(cerr.Error())
	}
	if err != nil {
		return &exitError{code: code, err: err}
	}
	return &exitError{code: code}
}

// runProgram runs the program in the foreground and returns its exit code.
// Ctrl-C reaches the program through the terminal's process group; mirrord
// waits for it. SIGTERM is passed on. If the session is lost the program is
// stopped, since it would go on without the pod's context.
func runProgram(cmd *cobra.Command, s *session.Session, path string, args, env []string) (int, error) {
	c := exec.Command(path, args[1:]...)
	c.Args[0] = args[0]
	c.Env = env
	c.Stdin, c.Stdout, c.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := c.Start(); err != nil {
		return 126, fmt.Errorf("starting %s: %w", args[0], err)
	}
	waited := make(chan error, 1)
	go func() { waited <- c.Wait() }()
	var lost error
	sessionLost := s.Done()
	for {
		select {
		case <-waited:
			if lost != nil {
				return 1, lost
			}
			return exitCode(c.ProcessState), nil
		case sig := <-sigs:
			if sig != os.Interrupt { // the terminal already sent SIGINT to the program
				_ = c.Process.Signal(sig)
			}
		case <-sessionLost:
			lost = fmt.Errorf("%w; stopped %s", s.Err(), args[0])
			_ = c.Process.Signal(syscall.SIGTERM)
			kill := time.AfterFunc(5*time.Second, func() { _ = c.Process.Kill() })
			defer kill.Stop()
			sessionLost = nil
		}
	}
}

func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := ps.ExitCode(); code >= 0 {
		return code
	}
	return 1
}
