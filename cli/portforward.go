package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/layer"
	"github.com/mirrord-go/mirrord/schema"
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

// reverseForward is one -R spec: the target's port whose traffic goes to
// a local port.
type reverseForward struct{ remote, local uint16 }

// parseReverse parses -R's "[remote_port:]local_port".
func parseReverse(s string) (reverseForward, error) {
	bad := func(why string) (reverseForward, error) {
		return reverseForward{}, fmt.Errorf("flag -R %q: %s (expected [remote_port:]local_port, e.g. 80:8080)", s, why)
	}
	remote, local, two := strings.Cut(s, ":")
	if !two {
		remote, local = s, s
	}
	r, err := strconv.Atoi(remote)
	if err != nil || r < 1 || r > 65535 {
		return bad("the remote port must be 1-65535")
	}
	l, err := strconv.Atoi(local)
	if err != nil || l < 1 || l > 65535 {
		return bad("the local port must be 1-65535")
	}
	return reverseForward{remote: uint16(r), local: uint16(l)}, nil
}

func newPortForwardCmd() *cobra.Command {
	var locals, reverse []string
	cmd := &cobra.Command{
		Use:   "port-forward (-L [local_port:]host:port | -R [remote_port:]local_port) ... [flags]",
		Short: "Forward local ports to addresses reached from the pod, and the pod's ports to local ones",
		Long: `Forward local ports through the target pod (or a targetless agent): a
connection to 127.0.0.1:<local_port> is made from the pod to host:port. The
host is resolved in the cluster, when a connection arrives, so a service name
such as my-svc or my-svc.my-ns.svc works.

-R forwards the other way: connections that reach the target's remote_port
are delivered to 127.0.0.1:<local_port>, mirrored or stolen as
feature.network.incoming says (mode, http_filter; -f reads it from a config
file; the default is mirror). A connection the local server refuses goes to
the pod. Runs until Ctrl-C.

Examples:
  mirrord port-forward -t deploy/web -n mirrord-e2e -L 18080:internal-only:80
  mirrord port-forward -t targetless -L 5432:postgres.db.svc:5432
  mirrord port-forward -t deploy/web -n mirrord-e2e --steal -R 80:18081`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(locals) == 0 && len(reverse) == 0 {
				return errors.New("flags -L/-R: give at least one -L [local_port:]host:port or -R [remote_port:]local_port")
			}
			return runPortForward(cmd, locals, reverse)
		},
	}
	cmd.Flags().StringArrayVarP(&locals, "local", "L", nil, "[local_port:]host:port to forward from the pod (repeatable)")
	cmd.Flags().StringArrayVarP(&reverse, "reverse", "R", nil, "[remote_port:]local_port: the target's port to a local port (repeatable)")
	addSessionFlags(cmd)
	return cmd
}

func runPortForward(cmd *cobra.Command, specs, reverseSpecs []string) error {
	var revs []reverseForward
	seenRemote := map[uint16]bool{}
	for _, spec := range reverseSpecs {
		r, err := parseReverse(spec)
		if err != nil {
			return err
		}
		if seenRemote[r.remote] {
			return fmt.Errorf("flag -R %q: remote port %d is given twice", spec, r.remote)
		}
		seenRemote[r.remote] = true
		revs = append(revs, r)
	}
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
	closeAll := func() {
		for _, l := range lns {
			l.Close()
		}
	}
	res, err := loadSessionConfig(cmd)
	if err != nil {
		closeAll()
		return err
	}
	var in *layer.Incoming
	if len(revs) > 0 {
		if err := reverseUsable(res.Config); err != nil {
			closeAll()
			return err
		}
		in = layer.NewIncoming(slog.New(warnHandler{p: p}))
	}
	s, err := startSessionWith(cmd, "mirrord port-forward", p, res, in)
	if err != nil {
		closeAll()
		return err
	}
	defer s.Close(context.WithoutCancel(cmd.Context()))
	if in != nil {
		defer in.Close() // before the session closes: the pod gets its ports back at once
	}
	for _, r := range revs {
		warning, _, err := in.Forward(cmd.Context(), res.Config.Feature.Network.Incoming, r.remote, r.local)
		if err != nil {
			closeAll()
			return fmt.Errorf("flag -R %d:%d: %w", r.remote, r.local, err)
		}
		if warning != "" {
			p.Warn(warning)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "mirrord: forwarding the target's port %d -> 127.0.0.1:%d (%s)\n", r.remote, r.local, res.Config.Feature.Network.Incoming.Mode)
	}

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

// reverseUsable refuses -R where no traffic could be received.
func reverseUsable(cfg *schema.Config) error {
	if t := cfg.Target.Path; t == nil || t.Kind == schema.KindTargetless {
		return errors.New("flag -R: reverse port forwarding needs a target (-t); a targetless agent receives no traffic")
	}
	if m := cfg.Feature.Network.Incoming.Mode; m == "" || m == schema.IncomingOff {
		return errors.New("flag -R: feature.network.incoming is off; reverse port forwarding needs mode mirror or steal")
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
