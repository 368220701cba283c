package daemon

import "errors"

// UpdateOptions configure the binary updater.
type UpdateOptions struct {
	// FeedURL is the release feed; DataDir holds installed binaries.
	FeedURL string
	DataDir string
}

func newUpdater(o UpdateOptions) func() (Updater, error) {
	return func() (Updater, error) {
		return nil, errors.New("binary updates are not wired yet")
	}
}
