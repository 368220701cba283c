package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/internal/update"
	"github.com/mirrord-go/mirrord/internal/buildinfo"
)

// UpdateOptions configure the binary updater.
type UpdateOptions struct {
	// FeedURL is the release feed; DataDir holds installed binaries.
	FeedURL string
	DataDir string
}

func newUpdater(o UpdateOptions) func() (Updater, error) {
	return func() (Updater, error) {
		if o.FeedURL == "" {
			return nil, errors.New("no release feed is configured: start the daemon with --update-feed or MIRRORD_UPDATE_FEED_URL")
		}
		u, err := update.New(update.Config{FeedURL: o.FeedURL, DataDir: o.DataDir, Current: buildinfo.Version})
		if err != nil {
			return nil, err
		}
		return apiUpdater{u}, nil
	}
}

// apiUpdater adapts update.Updater to the IDE settings: autoUpdate true,
// false or a pinned "x.y.z" (null means true, as the plugins' default),
// and binaryPath, which means "the user manages the binary".
type apiUpdater struct{ u *update.Updater }

func toPolicy(p api.UpdatePolicy) update.Policy {
	switch v := p.AutoUpdate.(type) {
	case bool:
		return update.Policy{Auto: v}
	case string:
		return update.Policy{Pinned: v}
	}
	return update.Policy{Auto: true}
}

func (a apiUpdater) Check(ctx context.Context, p api.UpdatePolicy) (api.UpdateCheckResult, error) {
	if p.BinaryPath != "" {
		return api.UpdateCheckResult{Current: buildinfo.Version, Path: p.BinaryPath}, nil
	}
	r, err := a.u.Check(ctx, toPolicy(p))
	if err != nil {
		return api.UpdateCheckResult{}, err
	}
	out := api.UpdateCheckResult{Current: r.Current, Latest: r.Latest, Available: r.Available}
	if cur, err := a.u.Current(); err == nil {
		out.Path = cur.Path
	}
	return out, nil
}

func (a apiUpdater) Apply(ctx context.Context, p api.UpdatePolicy, version string) (api.UpdateApplyResult, error) {
	if p.BinaryPath != "" {
		return api.UpdateApplyResult{}, userErr(fmt.Errorf("binaryPath is set to %s: that binary is the user's and is not updated", p.BinaryPath))
	}
	pol := toPolicy(p)
	if version == "" {
		if !pol.Auto && pol.Pinned == "" {
			return api.UpdateApplyResult{}, userErr(errors.New("updates are disabled (autoUpdate is false): name a version to install one anyway"))
		}
		version = pol.Pinned
	}
	inst, err := a.u.Apply(ctx, version)
	if err != nil {
		return api.UpdateApplyResult{}, err
	}
	return api.UpdateApplyResult{Version: inst.Version, Path: inst.Path, Previous: inst.Previous}, nil
}
