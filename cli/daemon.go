package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/mirrord-go/mirrord/daemon"
	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/client"
)

// defaultIdleTimeout is how long a daemon with no client and no session
// stays up (MIRRORD_DAEMON_IDLE_TIMEOUT or serve's --idle-timeout).
const defaultIdleTimeout = 10 * time.Minute

func newDaemonCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Manage the per-user mirrord daemon that serves the IDE plugins",
		Long: `The daemon is one long-lived process per user and mirrord build. IDE plugins
(and 'mirrord ls', when it runs) talk JSON-RPC to it on a private unix socket:
target lists from warm caches, config discovery and validation, config
language features, updates and sessions. Any client starts it on demand; it
exits after MIRRORD_DAEMON_IDLE_TIMEOUT (default 10m) with no client and no
session. It logs to a file in ~/.local/state/mirrord (see 'daemon status').`,
	}
	cmd.AddCommand(newDaemonServeCmd(), newDaemonStartCmd(), newDaemonStopCmd(), newDaemonStatusCmd(), newDaemonConnectCmd())
	return cmd
}

// idleTimeout reads MIRRORD_DAEMON_IDLE_TIMEOUT (a Go duration such as
// "10m"; "0" means never).
func idleTimeout() (time.Duration, error) {
	v := os.Getenv("MIRRORD_DAEMON_IDLE_TIMEOUT")
	if v == "" {
		return defaultIdleTimeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("MIRRORD_DAEMON_IDLE_TIMEOUT=%q: expected a duration such as 10m or 30s: %w", v, err)
	}
	return d, nil
}

func newDaemonServeCmd() *cobra.Command {
	var socket, logFile, feed string
	var idle, warm time.Duration
	cmd := &cobra.Command{
		Use:    "serve",
		Short:  "Run the daemon in the foreground (started on demand by clients)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("idle-timeout") {
				d, err := idleTimeout()
				if err != nil {
					return err
				}
				idle = d
			}
			if !cmd.Flags().Changed("session-warm-ttl") {
				if v := os.Getenv("MIRRORD_DAEMON_WARM_TTL"); v != "" {
					d, err := time.ParseDuration(v)
					if err != nil {
						return fmt.Errorf("MIRRORD_DAEMON_WARM_TTL=%q: expected a duration such as 30s, or -1s to disable: %w", v, err)
					}
					warm = d
				}
			}
			if socket == "" {
				s, err := client.SocketPath(client.Options{})
				if err != nil {
					return err
				}
				socket = s
			}
			if logFile == "" {
				l, err := daemon.LogFile(socket)
				if err != nil {
					return err
				}
				logFile = l
			}
			f, err := daemon.OpenLog(logFile)
			if err != nil {
				return err
			}
			defer f.Close()
			slog.SetDefault(slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelInfo})))
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return daemon.Run(ctx, daemon.Options{
				Socket: socket, LogFile: logFile, IdleTimeout: idle,
				Deps:     daemon.DefaultDeps(daemon.UpdateOptions{FeedURL: feed, DataDir: dataDir()}),
				Sessions: daemon.SessionOptions{WarmTTL: warm},
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&socket, "socket", "", "socket path (default: this build's per-user socket)")
	f.StringVar(&logFile, "log-file", "", "log file (default: ~/.local/state/mirrord/daemon-<build>.log)")
	f.DurationVar(&idle, "idle-timeout", defaultIdleTimeout, "exit after this long with no client and no session; 0 = never (env MIRRORD_DAEMON_IDLE_TIMEOUT)")
	f.DurationVar(&warm, "session-warm-ttl", 30*time.Second, "keep a stopped session's agent this long for a restart with the same target and config; negative = never (env MIRRORD_DAEMON_WARM_TTL)")
	f.StringVar(&feed, "update-feed", os.Getenv("MIRRORD_UPDATE_FEED_URL"), "release feed URL for update/check (env MIRRORD_UPDATE_FEED_URL)")
	return cmd
}

// dataDir is the user's mirrord data directory ($XDG_DATA_HOME/mirrord),
// where updated binaries are installed.
func dataDir() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "mirrord")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "mirrord-data-"+fmt.Sprint(os.Getuid()))
	}
	return filepath.Join(home, ".local", "share", "mirrord")
}

// daemonClient dials this build's daemon.
func daemonClient(ctx context.Context, autoStart bool) (*client.Client, error) {
	return client.Dial(ctx, client.Options{AutoStart: autoStart, Name: "mirrord-cli"})
}

func newDaemonStartCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start the daemon if it is not running, and print its status",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 15*time.Second)
			defer cancel()
			c, err := daemonClient(ctx, true)
			if err != nil {
				return err
			}
			defer c.Close()
			return printStatus(ctx, cmd.OutOrStdout(), c, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func newDaemonStatusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's pid, version, socket, uptime, clients and sessions",
		Long: `Show the running daemon of this build: pid, version, socket, log file,
uptime, clients (other than this command) and sessions. Exits 3 when no
daemon runs ({"running":false} with --json).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			c, err := daemonClient(ctx, false)
			if client.IsNotRunning(err) {
				if asJSON {
					fmt.Fprintln(cmd.OutOrStdout(), `{"running":false}`)
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "mirrord daemon: not running")
				}
				return &exitError{code: 3}
			}
			if err != nil {
				return err
			}
			defer c.Close()
			return printStatus(ctx, cmd.OutOrStdout(), c, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}

func printStatus(ctx context.Context, w io.Writer, c *client.Client, asJSON bool) error {
	st, err := client.Call(ctx, c, api.DaemonStatus, api.Empty{})
	if err != nil {
		return fmt.Errorf("asking the daemon for its status: %w", err)
	}
	if asJSON {
		out := struct {
			Running bool `json:"running"`
			api.DaemonStatusResult
		}{true, st}
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(out)
	}
	fmt.Fprintf(w, "mirrord daemon: running\n  pid:      %d\n  version:  %s (build %s)\n  socket:   %s\n  log:      %s\n  uptime:   %s\n  clients:  %d\n  sessions: %d\n",
		st.Pid, st.Version, st.BuildHash, st.Socket, st.LogFile,
		(time.Duration(st.UptimeSeconds * float64(time.Second))).Round(time.Second), st.Clients, st.Sessions)
	return nil
}

func newDaemonStopCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stop",
		Short: "Stop the daemon (its sessions end; clients reconnect to a new one on demand)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			c, err := daemonClient(ctx, false)
			if client.IsNotRunning(err) {
				fmt.Fprintln(cmd.OutOrStdout(), "mirrord daemon: not running")
				return nil
			}
			if err != nil {
				return err
			}
			defer c.Close()
			st, err := client.Call(ctx, c, api.DaemonStatus, api.Empty{})
			if err != nil {
				return fmt.Errorf("asking the daemon for its status: %w", err)
			}
			if _, err := client.Call(ctx, c, api.DaemonStop, api.Empty{}); err != nil {
				return fmt.Errorf("asking the daemon to stop: %w", err)
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				return fmt.Errorf("the daemon (pid %d) did not stop within 10s: see its log %s", st.Pid, st.LogFile)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "mirrord daemon: stopped (pid %d)\n", st.Pid)
			return nil
		},
	}
}

func newDaemonConnectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "connect",
		Short: "Bridge stdio to the daemon (starting it if needed), for editors' language-server settings",
		Long: `Copy standard input to the daemon's socket and its answers to standard
output, starting the daemon if needed. Any editor that runs a language server
over stdio can use 'mirrord daemon connect' as the server command for mirrord
config files (.mirrord/*.json, *.toml, *.yaml).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			nc, err := client.DialRaw(cmd.Context(), client.Options{AutoStart: true})
			if err != nil {
				return err
			}
			return bridge(cmd.Context(), nc, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
}

// bridge copies in→conn and conn→out until either side ends.
func bridge(ctx context.Context, nc io.ReadWriteCloser, in io.Reader, out io.Writer) error {
	g, ctx := errgroup.WithContext(ctx)
	done := make(chan struct{})
	g.Go(func() error {
		_, err := io.Copy(nc, in)
		// The editor closed stdin: stop sending but let the answers drain.
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		return ignoreClosed(err)
	})
	g.Go(func() error {
		defer close(done)
		_, err := io.Copy(out, nc)
		return ignoreClosed(err)
	})
	g.Go(func() error {
		select {
		case <-ctx.Done():
		case <-done:
		}
		return nc.Close()
	})
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return ignoreClosed(err)
}

func ignoreClosed(err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, os.ErrClosed) {
		return nil
	}
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return nil
	}
	if ne, ok := err.(interface{ Unwrap() error }); ok && errors.Is(ne.Unwrap(), os.ErrClosed) {
		return nil
	}
	return err
}
