package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/internal/rundir"
	"github.com/mirrord-go/mirrord/internal/buildinfo"
	"github.com/mirrord-go/mirrord/schema"
)

func init() {
	handle(api.Initialize, (*conn).initialize)
	handleNotify(api.Initialized, true, func(*conn, context.Context, *api.Empty) error { return nil })
	handle(api.Shutdown, func(c *conn, _ context.Context, _ *api.Empty) (*api.Empty, error) {
		c.mu.Lock()
		c.shutdown = true
		c.mu.Unlock()
		return nil, nil
	})
	handleNotify(api.Exit, true, func(c *conn, _ context.Context, _ *api.Empty) error {
		// The daemon is shared by every IDE window: an LSP client's exit
		// ends its own connection only (daemon/stop ends the daemon).
		go c.close()
		return nil
	})
	handle(api.DaemonStatus, func(c *conn, _ context.Context, _ *api.Empty) (api.DaemonStatusResult, error) {
		st := c.s.status()
		st.Clients-- // the caller is not news to itself
		return st, nil
	})
	handle(api.DaemonStop, func(c *conn, _ context.Context, _ *api.Empty) (*api.Empty, error) {
		slog.Info("stop requested", "client", c.id)
		c.s.mu.Lock()
		stop := c.s.stop
		c.s.mu.Unlock()
		if stop == nil {
			return nil, userErr(errors.New("this daemon is not serving a socket, so it cannot be stopped"))
		}
		// Reply first; Serve closes the connections once it unwinds.
		time.AfterFunc(50*time.Millisecond, stop)
		return nil, nil
	})
	handle(api.TargetsList, (*conn).targetsList)
	handle(api.NamespacesList, (*conn).namespacesList)
}

// Features are the mirrord capabilities this daemon offers.
var Features = []string{"targets", "config", "lang", "update", "sessions"}

func (c *conn) initialize(_ context.Context, p *api.InitializeParams) (api.InitializeResult, error) {
	name := "unknown"
	if p.ClientInfo != nil {
		name = strings.TrimSpace(p.ClientInfo.Name + " " + p.ClientInfo.Version)
	}
	c.mu.Lock()
	c.name = name
	c.mu.Unlock()
	slog.Info("initialize", "client", c.id, "name", name, "protocol", p.ProtocolVersion, "pid", p.ProcessID)
	if p.InitializationOptions != nil && p.InitializationOptions.Update != nil {
		c.s.updates.setPolicy(c.id, *p.InitializationOptions.Update)
	}
	var methods []string
	for _, i := range api.All {
		if i.Dir == api.ClientToServer {
			methods = append(methods, i.Name)
		}
	}
	methods = append(methods, api.TextDocumentDidOpen, api.TextDocumentDidChange, api.TextDocumentDidClose, api.TextDocumentCompletion, api.TextDocumentHover)
	return api.InitializeResult{
		Capabilities:    c.s.lang.capabilities(),
		ServerInfo:      api.ServerInfo{Name: "mirrord", Version: buildinfo.Version},
		Version:         buildinfo.Version,
		BuildHash:       rundir.BuildHash(),
		ProtocolVersion: api.ProtocolVersion,
		Features:        Features,
		Methods:         methods,
		Pid:             os.Getpid(),
	}, nil
}

func (s *Server) status() api.DaemonStatusResult {
	clients, sessions := s.active()
	return api.DaemonStatusResult{
		Pid:                os.Getpid(),
		Version:            buildinfo.Version,
		BuildHash:          rundir.BuildHash(),
		Socket:             s.opts.Socket,
		LogFile:            s.opts.LogFile,
		StartedAt:          s.started.UTC().Format(time.RFC3339),
		UptimeSeconds:      time.Since(s.started).Round(time.Millisecond).Seconds(),
		Clients:            clients, // excluding the caller, see the handler
		Sessions:           sessions,
		IdleTimeoutSeconds: s.opts.IdleTimeout.Seconds(),
	}
}

// lookup returns the env a request asked for, else the daemon's.
func (s *Server) lookup(env map[string]string) func(string) (string, bool) {
	if env == nil {
		return s.opts.Env
	}
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// loadConfig resolves the config a cluster request names (only its
// kubeconfig, kube_context and target.namespace matter here).
func (s *Server) loadConfig(p api.ClusterParams) (*schema.Config, error) {
	res := schema.Load(p.ConfigPath, schema.Options{IDE: true, Env: s.lookup(p.Env)})
	if err := res.Err(); err != nil {
		return nil, err
	}
	// The daemon's own KUBECONFIG is whatever its first client had; a
	// client that sends its env means its own.
	if kc, ok := p.Env["KUBECONFIG"]; ok && kc != "" && res.Config.Kubeconfig == "" {
		res.Config.Kubeconfig = kc
	}
	return res.Config, nil
}

func (c *conn) targetsList(ctx context.Context, p *api.TargetsListParams) (api.TargetsListResult, error) {
	for i, t := range p.Types {
		p.Types[i] = strings.ToLower(strings.TrimSpace(t))
		if !slices.Contains(listKinds, p.Types[i]) {
			return api.TargetsListResult{}, invalidParams("targets/list: types[%d] is %q: use one of %s", i, t, strings.Join(listKinds, ", "))
		}
	}
	cfg, err := c.s.loadConfig(p.ClusterParams)
	if err != nil {
		return api.TargetsListResult{}, err
	}
	var kinds []string
	if len(p.Types) > 0 {
		kinds = p.Types
	}
	r, err := c.s.targets.List(ctx, cfg, p.Namespace, kinds, p.IncludeUnavailable, c.id)
	if err != nil {
		return api.TargetsListResult{}, err
	}
	out := api.TargetsListResult{Targets: make([]api.Target, len(r.Targets)), CurrentNamespace: r.Namespace, Namespaces: r.Namespaces, KubeContext: r.KubeContext}
	for i, t := range r.Targets {
		out.Targets[i] = api.Target{Path: t.Path, Kind: t.Kind, Available: t.Available}
	}
	if out.Namespaces == nil {
		out.Namespaces = []string{}
	}
	return out, nil
}

// listKinds are the kinds targets/list accepts.
var listKinds = []string{schema.KindPod, schema.KindDeployment, schema.KindRollout, schema.KindJob, schema.KindCronJob, schema.KindStatefulSet, schema.KindService, schema.KindReplicaSet}

func (c *conn) namespacesList(ctx context.Context, p *api.NamespacesListParams) (api.NamespacesListResult, error) {
	cfg, err := c.s.loadConfig(p.ClusterParams)
	if err != nil {
		return api.NamespacesListResult{}, err
	}
	names, current, kctx, err := c.s.targets.Namespaces(ctx, cfg)
	if err != nil {
		return api.NamespacesListResult{}, fmt.Errorf("listing namespaces: %w", err)
	}
	if len(names) == 0 {
		names = []string{current}
	}
	return api.NamespacesListResult{Namespaces: names, CurrentNamespace: current, KubeContext: kctx}, nil
}
