// Package update keeps the user's mirrord binary up to date from a release
// feed, the way the IDE plugins used to do each on their own: check the
// feed, download the platform's binary, verify it, install it atomically in
// the user's mirrord data directory, and keep the previous version so a bad
// release can be rolled back. An interrupted or corrupt download never
// replaces a working binary.
//
// Layout of the data directory:
//
//	<DataDir>/bin/<version>/mirrord   one directory per installed version
//	<DataDir>/current                 symlink to the binary IDEs should run
//	<DataDir>/previous                symlink to the one before (Rollback)
//	<DataDir>/.update.lock            serializes updaters (one per daemon build)
package update

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	"golang.org/x/mod/semver"
)

// Config configures an Updater.
type Config struct {
	FeedURL  string       // release feed (JSON, see the feed format); http or https
	DataDir  string       // user's mirrord data dir; binaries installed under it
	Current  string       // running version (buildinfo.Version)
	OS, Arch string       // default runtime.GOOS/GOARCH
	Client   *http.Client // nil: a client with sane timeouts
}

// Policy mirrors the IDE setting autoUpdate: true (Auto: the latest
// release), false (neither: no update, the feed is not contacted) or a
// version string (Pinned: exactly that version, also a downgrade). Pinned
// wins over Auto.
type Policy struct {
	Auto   bool
	Pinned string
}

// Release is one installable binary for this platform.
type Release struct {
	Version string `json:"version"`
	URL     string `json:"url"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// CheckResult tells whether the policy wants another version.
type CheckResult struct {
	Current   string   `json:"current"`
	Latest    string   `json:"latest"` // the version the policy wants; "" when disabled
	Available bool     `json:"available"`
	Release   *Release `json:"release,omitempty"`
}

// Installed describes an installed binary.
type Installed struct {
	Version  string `json:"version"`
	Path     string `json:"path"`
	Previous string `json:"previous,omitempty"`
}

// Updater checks and installs releases. Its methods are safe for
// concurrent use, also across processes sharing the data directory.
type Updater struct {
	cfg    Config
	feed   *url.URL
	client *http.Client
}

// New checks the config and fills in defaults.
func New(cfg Config) (*Updater, error) {
	if cfg.FeedURL == "" {
		return nil, errors.New("update: no release feed URL configured")
	}
	feed, err := url.Parse(cfg.FeedURL)
	if err != nil || (feed.Scheme != "http" && feed.Scheme != "https") || feed.Host == "" {
		return nil, fmt.Errorf("update: release feed URL %q must be an absolute http or https URL", cfg.FeedURL)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("update: no data directory configured")
	}
	if cfg.DataDir, err = filepath.Abs(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("update: data directory: %w", err)
	}
	if cfg.OS == "" {
		cfg.OS = runtime.GOOS
	}
	if cfg.Arch == "" {
		cfg.Arch = runtime.GOARCH
	}
	client := cfg.Client
	if client == nil {
		client = defaultClient()
	}
	return &Updater{cfg: cfg, feed: feed, client: client}, nil
}

// defaultClient bounds every phase of a request except the body, whose
// length depends on the binary and the network: the caller's context
// bounds the whole download.
func defaultClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          4,
	}}
}

// Check asks the feed what the policy wants. A pinned version is available
// when it differs from the running one; with Auto, the latest release
// (without pre-releases) is available when it is newer. A running version
// that is not a semantic version (a development build) is never replaced
// automatically, only by a pin. Neither Auto nor Pinned: nothing is
// available and the feed is not contacted.
func (u *Updater) Check(ctx context.Context, p Policy) (CheckResult, error) {
	res := CheckResult{Current: u.cfg.Current}
	if !p.Auto && p.Pinned == "" {
		return res, nil
	}
	want, err := u.wanted(ctx, p)
	if err != nil {
		return res, err
	}
	res.Latest, res.Release = want.Version, &want
	cur := canonical(u.cfg.Current)
	if p.Pinned != "" {
		res.Available = cur != canonical(want.Version)
	} else {
		res.Available = cur != "" && semver.Compare(canonical(want.Version), cur) > 0
	}
	return res, nil
}

// wanted picks the release the policy names.
func (u *Updater) wanted(ctx context.Context, p Policy) (Release, error) {
	if p.Pinned != "" && canonical(p.Pinned) == "" {
		return Release{}, fmt.Errorf("update: pinned version %q (autoUpdate) is not a version such as \"0.3.1\"", p.Pinned)
	}
	releases, err := u.fetchFeed(ctx)
	if err != nil {
		return Release{}, err
	}
	if p.Pinned != "" {
		r, ok := releases[canonical(p.Pinned)]
		if !ok {
			return Release{}, fmt.Errorf("update: pinned version %s (autoUpdate) is not in the release feed %s for %s/%s; available: %s",
				p.Pinned, u.feed, u.cfg.OS, u.cfg.Arch, versionList(releases))
		}
		return r, nil
	}
	latest := ""
	for v := range releases {
		if semver.Prerelease(v) == "" && (latest == "" || semver.Compare(v, latest) > 0) {
			latest = v
		}
	}
	if latest == "" {
		return Release{}, fmt.Errorf("update: the release feed %s has no release for %s/%s", u.feed, u.cfg.OS, u.cfg.Arch)
	}
	return releases[latest], nil
}

func versionList(releases map[string]Release) string {
	if len(releases) == 0 {
		return "none"
	}
	vs := make([]string, 0, len(releases))
	for v := range releases {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return semver.Compare(vs[i], vs[j]) < 0 })
	out := ""
	for i, v := range vs {
		if i > 0 {
			out += ", "
		}
		out += display(v)
	}
	return out
}
