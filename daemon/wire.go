package daemon

import (
	"context"

	"go.lsp.dev/protocol"

	"github.com/mirrord-go/mirrord/daemon/internal/lang"
)

// DefaultDeps wires the real config language server and updater.
func DefaultDeps(u UpdateOptions) Deps {
	return Deps{
		NewLang: func(publish func(context.Context, *protocol.PublishDiagnosticsParams) error) Lang {
			return lang.New(publish)
		},
		Validate:   lang.Validate,
		NewUpdater: newUpdater(u),
	}
}
