package update

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/mod/semver"
)

// The release feed is one JSON document:
//
//	{
//	  "releases": [
//	    {
//	      "version": "0.2.0",
//	      "assets": [
//	        {"os": "linux", "arch": "amd64", "url": "v0.2.0/mirrord-linux-amd64",
//	         "sha256": "<64 hex digits>", "size": 12345678}
//	      ]
//	    }
//	  ]
//	}
//
// version is a semantic version, with or without a leading "v". os and arch
// use Go's names (runtime.GOOS, runtime.GOARCH). url may be relative: it is
// resolved against the feed's own URL, so a feed and its binaries can be
// served from one directory. sha256 is required (a download is never
// installed unverified); size is optional but, when given, a download of
// another size is refused before it is hashed. Releases may come in any
// order; versions with a pre-release suffix ("0.3.0-rc.1") are offered only
// when pinned. Unknown fields are ignored, so the feed can grow.
type feed struct {
	Releases []feedRelease `json:"releases"`
}

type feedRelease struct {
	Version string      `json:"version"`
	Assets  []feedAsset `json:"assets"`
}

type feedAsset struct {
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	URL    string `json:"url"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// maxFeedSize bounds the feed document.
const maxFeedSize = 4 << 20

// fetchFeed downloads the feed and returns this platform's releases,
// keyed by canonical version ("v1.2.3").
func (u *Updater) fetchFeed(ctx context.Context) (map[string]Release, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.feed.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("release feed %s: %w", u.feed, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching release feed %s: %w (check the network, or the feed URL setting)", u.feed, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching release feed %s: HTTP %s", u.feed, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFeedSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading release feed %s: %w", u.feed, err)
	}
	if len(body) > maxFeedSize {
		return nil, fmt.Errorf("release feed %s is larger than %d bytes", u.feed, maxFeedSize)
	}
	var f feed
	if err := json.Unmarshal(body, &f); err != nil {
		return nil, fmt.Errorf("release feed %s is not valid JSON of the expected shape ({\"releases\": [...]}): %w", u.feed, err)
	}
	out := map[string]Release{}
	for _, r := range f.Releases {
		v := canonical(r.Version)
		if v == "" {
			continue // not a version we can compare: skip rather than fail the feed
		}
		for _, a := range r.Assets {
			if a.OS != u.cfg.OS || a.Arch != u.cfg.Arch {
				continue
			}
			ref, err := url.Parse(a.URL)
			if err != nil || a.URL == "" {
				return nil, fmt.Errorf("release feed %s: release %s (%s/%s) has a bad url %q", u.feed, r.Version, a.OS, a.Arch, a.URL)
			}
			abs := u.feed.ResolveReference(ref)
			if abs.Scheme != "http" && abs.Scheme != "https" {
				return nil, fmt.Errorf("release feed %s: release %s has url %q; only http and https are supported", u.feed, r.Version, a.URL)
			}
			out[v] = Release{Version: display(v), URL: abs.String(), SHA256: strings.ToLower(a.SHA256), Size: a.Size}
			break
		}
	}
	return out, nil
}

// canonical turns "1.2.3" or "v1.2.3" into "v1.2.3", or "" when invalid.
// Build metadata is dropped: it does not order versions.
func canonical(v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if !semver.IsValid(v) {
		return ""
	}
	return semver.Canonical(v)
}

// display drops the "v" again: the user-facing form, as in `mirrord --version`.
func display(v string) string { return strings.TrimPrefix(v, "v") }
