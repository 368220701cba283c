package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/internal/discover"
	"github.com/mirrord-go/mirrord/schema"
)

func init() {
	handle(api.ConfigDiscover, (*conn).configDiscover)
	handle(api.ConfigResolve, (*conn).configResolve)
	handle(api.ConfigValidate, (*conn).configValidate)
	handle(api.SchemaGet, func(*conn, context.Context, *api.Empty) (api.SchemaGetResult, error) {
		return api.SchemaGetResult{Schema: schema.JSONSchema}, nil
	})
}

func discoverResult(r discover.Result) api.ConfigDiscoverResult {
	out := api.ConfigDiscoverResult{Default: r.Default, Source: r.Source, Candidates: r.Candidates}
	if out.Candidates == nil {
		out.Candidates = []string{}
	}
	return out
}

func (c *conn) configDiscover(_ context.Context, p *api.ConfigDiscoverParams) (api.ConfigDiscoverResult, error) {
	if p.WorkspaceFolder == "" {
		return api.ConfigDiscoverResult{}, invalidParams("config/discover: field \"workspaceFolder\" is required")
	}
	env := c.s.lookup(p.Env)
	r, err := discover.Discover(p.WorkspaceFolder, p.Active, env)
	if err != nil {
		return api.ConfigDiscoverResult{}, userErr(fmt.Errorf("discovering the config of %s: %w", p.WorkspaceFolder, err))
	}
	c.s.watches.subscribe(c.id, p.WorkspaceFolder, p.Active, env)
	return discoverResult(r), nil
}

func (c *conn) configResolve(_ context.Context, p *api.ConfigResolveParams) (api.ConfigResolveResult, error) {
	env := c.s.lookup(p.Env)
	if len(p.Overrides) > 0 {
		base := env
		env = func(k string) (string, bool) {
			if v, ok := p.Overrides[k]; ok {
				return v, true
			}
			return base(k)
		}
	}
	path := p.Path
	if path != "" && p.Cwd != "" && !filepath.IsAbs(path) {
		path = filepath.Join(p.Cwd, path)
	}
	res := schema.Load(path, schema.Options{IDE: true, Env: env, Dir: p.Cwd})
	out := api.ConfigResolveResult{Warnings: issues(res.Warnings), Errors: issues(res.Errors)}
	if err := res.Err(); err != nil {
		return out, err
	}
	raw, err := json.Marshal(res.Config)
	if err != nil {
		return out, fmt.Errorf("encoding the resolved config of %s: %w", path, err)
	}
	out.Config = raw
	if t := res.Config.Target.Path; t != nil {
		out.Target = t.String()
		out.TargetSet = true
	}
	out.Namespace = res.Config.Target.Namespace
	return out, nil
}

func (c *conn) configValidate(_ context.Context, p *api.ConfigValidateParams) (api.ConfigValidateResult, error) {
	if c.s.opts.Deps.Validate == nil {
		return api.ConfigValidateResult{}, errNoLang
	}
	name, data := p.Path, []byte(p.Text)
	switch {
	case p.Path != "" && p.Text != "":
		// The text is the unsaved buffer of that file.
	case p.Path != "":
		var err error
		data, err = os.ReadFile(p.Path)
		if err != nil {
			return api.ConfigValidateResult{}, userErr(fmt.Errorf("config/validate: reading %s: %w", p.Path, err))
		}
	default:
		f := strings.ToLower(p.Format)
		switch f {
		case "", "json":
			f = "json"
		case "toml", "yaml", "yml":
		default:
			return api.ConfigValidateResult{}, invalidParams("config/validate: format %q: use json, toml or yaml", p.Format)
		}
		name = "config." + f
	}
	diags := c.s.opts.Deps.Validate(name, data)
	out := api.ConfigValidateResult{Diagnostics: make([]api.Diagnostic, len(diags))}
	for i, d := range diags {
		out.Diagnostics[i] = api.Diagnostic{
			Range: api.Range{
				Start: api.Position{Line: int(d.Range.Start.Line), Character: int(d.Range.Start.Character)},
				End:   api.Position{Line: int(d.Range.End.Line), Character: int(d.Range.End.Character)},
			},
			Severity: int(d.Severity), Source: d.Source, Message: d.Message,
		}
	}
	return out, nil
}

// watches runs one discover.Watch per workspace folder that some client
// asked about, and forwards its events to those clients. It owns the
// watcher goroutines; close stops them.
type watches struct {
	s      *Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	byWS map[string]*watch
}

type watch struct {
	cancel context.CancelFunc
	// subs maps a connection to the active config and env it discovered
	// with, so its notice carries its own default.
	subs map[string]watchSub
}

type watchSub struct {
	active string
	env    func(string) (string, bool)
}

func newWatches(s *Server) *watches {
	ctx, cancel := context.WithCancel(context.Background())
	return &watches{s: s, ctx: ctx, cancel: cancel, byWS: map[string]*watch{}}
}

// run stops every watcher when ctx is done.
func (w *watches) run(ctx context.Context) {
	<-ctx.Done()
	w.close()
}

func (w *watches) close() {
	w.cancel()
	w.wg.Wait()
}

func (w *watches) subscribe(connID, ws, active string, env func(string) (string, bool)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctx.Err() != nil {
		return
	}
	wt, ok := w.byWS[ws]
	if !ok {
		ctx, cancel := context.WithCancel(w.ctx)
		wt = &watch{cancel: cancel, subs: map[string]watchSub{}}
		w.byWS[ws] = wt
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			err := discover.Watch(ctx, ws, func(ev discover.Event) { w.emit(ws, ev) })
			if err != nil && !errors.Is(err, context.Canceled) {
				slog.Warn("watching config files stopped", "workspace", ws, "err", err)
			}
		}()
	}
	wt.subs[connID] = watchSub{active: active, env: env}
}

func (w *watches) unsubscribe(connID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ws, wt := range w.byWS {
		delete(wt.subs, connID)
		if len(wt.subs) == 0 {
			wt.cancel()
			delete(w.byWS, ws)
		}
	}
}

func (w *watches) emit(ws string, ev discover.Event) {
	w.mu.Lock()
	wt := w.byWS[ws]
	var subs map[string]watchSub
	if wt != nil {
		subs = make(map[string]watchSub, len(wt.subs))
		for k, v := range wt.subs {
			subs[k] = v
		}
	}
	w.mu.Unlock()
	for id, sub := range subs {
		c := w.s.connByID(id)
		if c == nil {
			continue
		}
		r, err := discover.Discover(ws, sub.active, sub.env)
		if err != nil {
			slog.Warn("rediscovering after a config change", "workspace", ws, "err", err)
		}
		c.notify(w.ctx, api.ConfigChanged.Name, api.ConfigChangedParams{WorkspaceFolder: ws, Path: ev.Path, Op: ev.Op, Discover: discoverResult(r)})
	}
}
