package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mirrord-go/mirrord/daemon/api"
)

// Updater is the binary updater (daemon/internal/update), seen through
// the API's types.
type Updater interface {
	Check(ctx context.Context, p api.UpdatePolicy) (api.UpdateCheckResult, error)
	Apply(ctx context.Context, p api.UpdatePolicy, version string) (api.UpdateApplyResult, error)
}

func init() {
	handle(api.UpdateCheck, func(c *conn, ctx context.Context, p *api.UpdateCheckParams) (api.UpdateCheckResult, error) {
		u, err := c.s.updates.updater()
		if err != nil {
			return api.UpdateCheckResult{}, err
		}
		if err := checkPolicy(p.UpdatePolicy); err != nil {
			return api.UpdateCheckResult{}, err
		}
		c.s.updates.setPolicy(c.id, p.UpdatePolicy)
		return u.Check(ctx, p.UpdatePolicy)
	})
	handle(api.UpdateApply, func(c *conn, ctx context.Context, p *api.UpdateApplyParams) (api.UpdateApplyResult, error) {
		u, err := c.s.updates.updater()
		if err != nil {
			return api.UpdateApplyResult{}, err
		}
		if err := checkPolicy(p.UpdatePolicy); err != nil {
			return api.UpdateApplyResult{}, err
		}
		return u.Apply(ctx, p.UpdatePolicy, p.Version)
	})
}

// checkPolicy accepts autoUpdate true, false, null or a version string.
func checkPolicy(p api.UpdatePolicy) error {
	switch p.AutoUpdate.(type) {
	case nil, bool, string:
		return nil
	}
	return invalidParams("field \"autoUpdate\" must be true, false or a version such as \"0.3.1\", not %v", p.AutoUpdate)
}

// updates owns the update policy of each client and the background check
// that sends update/available once per client policy.
type updates struct {
	s *Server

	mu  sync.Mutex
	u   Updater
	err error
	// checked remembers the clients already told, so a client hears of
	// one version once.
	told map[string]string
}

func newUpdates(s *Server) *updates {
	return &updates{s: s, told: map[string]string{}}
}

func (u *updates) updater() (Updater, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.u != nil || u.err != nil {
		return u.u, u.err
	}
	if u.s.opts.Deps.NewUpdater == nil {
		u.err = errors.New("binary updates are not available in this build")
		return nil, u.err
	}
	up, err := u.s.opts.Deps.NewUpdater()
	if err != nil {
		u.err = fmt.Errorf("setting up binary updates: %w", err)
		return nil, u.err
	}
	u.u = up
	return up, nil
}

// setPolicy records a client's policy and, unless updates are off,
// checks in the background and notifies that client when a newer version
// is allowed.
func (u *updates) setPolicy(connID string, p api.UpdatePolicy) {
	if b, ok := p.AutoUpdate.(bool); ok && !b {
		return
	}
	if p.BinaryPath != "" || checkPolicy(p) != nil {
		return
	}
	up, err := u.updater()
	if err != nil {
		return
	}
	c := u.s.connByID(connID)
	if c == nil {
		return
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := up.Check(ctx, p)
		if err != nil {
			slog.Info("background update check failed", "client", connID, "err", err)
			return
		}
		if !res.Available {
			return
		}
		u.mu.Lock()
		seen := u.told[connID] == res.Latest
		u.told[connID] = res.Latest
		u.mu.Unlock()
		if !seen {
			c.notify(ctx, api.UpdateAvailable.Name, res)
		}
	}()
}
