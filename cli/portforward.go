package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// forward is one -L spec: a local port and where the pod connects to.
type forward struct {
	localPort int
	remote    string // host:port, the host resolved in the cluster on each connection
}

// parseForward parses -L's "[local_port:]host:port".
func parseForward(s string) (forward, error) {
	bad := func(why string) (forward, error) {
		return forward{}, fmt.Errorf("flag -L %q: %s (expected [local_port:]host:port, e.g. 8080:my-svc:80)", s, why)
	}
	parts := strings.Split(s, ":")
	var local, host, port string
	switch len(parts) {
	case 2:
		host, port = parts[0], parts[1]
		local = port
	case 3:
		local, host, port = parts[0], parts[1], parts[2]
	default:
		return bad("wrong number of ':'")
	}
	if host == "" {
		return bad("the host is empty")
	}
	rp, err := strconv.Atoi(port)
	if err != nil || rp < 1 || rp > 65535 {
		return bad("the remote port must be 1-65535")
	}
	lp, err := strconv.Atoi(local)
	if err != nil || lp < 0 || lp > 65535 {
		return bad("the local port must be 0-65535")
	}
	return forward{localPort: lp, remote: net.JoinHostPort(host, strconv.Itoa(rp))}, nil
}

func newPortForwardCmd() *cobra.Command {
	var locals, reverse []string
	cmd := &cobra.Command{
		Use:   "port-forward -L [local_port:]host:port [-L ...] [flags]",
		Short: "Forward local ports to addresses reached from the pod",
		Long: `Forward local ports through the target pod (or a targetless agent): a
connection to 127.0.0.1:<local_port> is made from the pod to host:port. The
host is resolved in the cluster, when a connection arrives, so a service name
such as my-svc or my-svc.my-ns.svc works. Runs until Ctrl-C.

Examples:
  mirrord port-forward -t deploy/web -n mirrord-e2e -L 18080:internal-only:80
  mirrord port-forward -t targetless -L 5432:postgres.db.svc:5432`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(reverse) > 0 {
				return errors.New("flag -R: reverse port forwarding is not supported yet (it comes with incoming traffic)")
			}
			if len(locals) == 0 {
				return errors.New("flag -L: give at least one [local_port:]host:port")
			}
			return runPortForward(cmd, locals)
		},
	}
	cmd.Flags().StringArrayVarP(&locals, "local", "L", nil, "[local_port:]host:port to forward (repeatable)")
	cmd.Flags().StringArrayVarP(&reverse, "reverse", "R", nil, "[remote_port:]local_port (not supported yet)")
	addSessionFlags(cmd)
	return cmd
}

func runPortForward(cmd *cobra.Command, specs []string) error {
	var fwds []forward
	seen := map[int]bool{}
	for _, s := range specs {
		f, err := parseForward(s)
		if err != nil {
			return err
		}
		if f.localPort != 0 && seen[f.localPort] {
			return fmt.Errorf("flag -L %q: local port %d is given twice", s, f.localPort)
		}
		seen[f.localPort] = true
		fwds = append(fwds, f)
	}
	p, err := newProgress(cmd, "mirrord port-forward")
	if err != nil {
		return err
	}
	// Listen first: a busy port is the user's to fix before an agent exists.
	lns := make([]net.Listener, len(fwds))
	for i, f := range fwds {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(f.localPort)))
		if err != nil {
			for _, l := range lns[:i] {
				l.Close()
			}
			return fmt.Errorf("flag -L: listening on local port %d: %w", f.localPort, err)
		}
		lns[i] = ln
	}
	s, err := startSession(cmd, "mirrord port-forward", p)
	if err != nil {
		for _, l := range lns {
			l.Close()
		}
		return err
	}
	defer s.Close(context.WithoutCancel(cmd.Context()))

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	for i, ln := range lns {
		fmt.Fprintf(cmd.ErrOrStderr(), "mirrord: forwarding %s -> %s (from the pod)\n", ln.Addr(), fwds[i].remote)
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveForward(ctx, ln, fwds[i].remote, s.Conn, p.Warn)
		}()
	}
	var lost error
	select {
	case <-ctx.Done():
	case <-s.Done():
		lost = s.Err()
	}
	for _, ln := range lns {
		ln.Close()
	}
	wg.Wait()
	if lost != nil {
		return fmt.Errorf("port forwarding stopped: %w", lost)
	}
	return nil
}

// serveForward accepts until ln is closed; each connection is dialled from
// the pod and piped. The accept loop owns the per-connection goroutines and
// waits for them, closing them when ctx ends.
func serveForward(ctx context.Context, ln net.Listener, remote string, agent *protocol.Client, warn func(string)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			up, err := agent.DialTCP(ctx, remote)
			if err != nil {
				warn(fmt.Sprintf("connecting to %s from the pod: %v", remote, err))
				c.Close()
				return
			}
			_ = protocol.Pipe(c, up)
		}()
	}
}
