package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"sync"

	"go.lsp.dev/protocol"

	"github.com/mirrord-go/mirrord/daemon/api"
)

// Lang is the config language server (daemon/internal/lang.Server).
type Lang interface {
	Capabilities() protocol.ServerCapabilities
	DidOpen(ctx context.Context, p *protocol.DidOpenTextDocumentParams) error
	DidChange(ctx context.Context, p *protocol.DidChangeTextDocumentParams) error
	DidClose(ctx context.Context, p *protocol.DidCloseTextDocumentParams) error
	Completion(ctx context.Context, p *protocol.CompletionParams) (*protocol.CompletionList, error)
	Hover(ctx context.Context, p *protocol.HoverParams) (*protocol.Hover, error)
}

// Deps are the services the daemon builds on; DefaultDeps wires the real
// ones. A nil field disables the feature (its methods answer an error).
type Deps struct {
	// NewLang builds the language server; publish sends diagnostics.
	NewLang func(publish func(context.Context, *protocol.PublishDiagnosticsParams) error) Lang
	// Validate returns positioned diagnostics for a config text.
	Validate func(name string, data []byte) []protocol.Diagnostic
	// NewUpdater builds the binary updater.
	NewUpdater func() (Updater, error)
}

func (d Deps) newLang(publish func(context.Context, *protocol.PublishDiagnosticsParams) error) *langHost {
	h := &langHost{owners: map[protocol.DocumentURI]string{}}
	if d.NewLang != nil {
		h.srv = d.NewLang(publish)
	}
	return h
}

// langHost routes documents: each open document belongs to the connection
// that opened it, which alone receives its diagnostics. Two windows that
// open the same file share its text; the latest opener gets diagnostics.
type langHost struct {
	srv Lang

	mu     sync.Mutex
	owners map[protocol.DocumentURI]string
}

var errNoLang = errors.New("the config language features are not available in this build")

func (h *langHost) capabilities() any {
	if h.srv == nil {
		return map[string]any{}
	}
	return h.srv.Capabilities()
}

func (h *langHost) owner(uri protocol.DocumentURI) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.owners[uri]
}

// closeConn closes the documents of a connection that went away.
func (h *langHost) closeConn(id string) {
	h.mu.Lock()
	var uris []protocol.DocumentURI
	for u, o := range h.owners {
		if o == id {
			uris = append(uris, u)
			delete(h.owners, u)
		}
	}
	h.mu.Unlock()
	if h.srv == nil {
		return
	}
	for _, u := range uris {
		_ = h.srv.DidClose(context.Background(), &protocol.DidCloseTextDocumentParams{TextDocument: protocol.TextDocumentIdentifier{URI: u}})
	}
}

// publishDiagnostics sends a document's diagnostics to its owner.
func (s *Server) publishDiagnostics(ctx context.Context, p *protocol.PublishDiagnosticsParams) error {
	c := s.connByID(s.lang.owner(p.URI))
	if c == nil {
		return nil
	}
	c.notify(ctx, api.TextDocumentPublishDiagnostics, p)
	return nil
}

func decodeLSP[P any](method string, raw *json.RawMessage) (*P, error) {
	p := new(P)
	if raw == nil {
		return nil, invalidParams("%s: params are required", method)
	}
	if err := decodeParams(method, raw, p); err != nil {
		return nil, err
	}
	return p, nil
}

func init() {
	handleRaw(api.TextDocumentDidOpen, true, func(ctx context.Context, c *conn, raw *json.RawMessage) (any, error) {
		p, err := decodeLSP[protocol.DidOpenTextDocumentParams](api.TextDocumentDidOpen, raw)
		if err != nil || c.s.lang.srv == nil {
			return nil, errors.Join(err, errNoLang)
		}
		c.s.lang.mu.Lock()
		c.s.lang.owners[p.TextDocument.URI] = c.id
		c.s.lang.mu.Unlock()
		return nil, c.s.lang.srv.DidOpen(ctx, p)
	})
	handleRaw(api.TextDocumentDidChange, true, func(ctx context.Context, c *conn, raw *json.RawMessage) (any, error) {
		p, err := decodeLSP[protocol.DidChangeTextDocumentParams](api.TextDocumentDidChange, raw)
		if err != nil || c.s.lang.srv == nil {
			return nil, errors.Join(err, errNoLang)
		}
		return nil, c.s.lang.srv.DidChange(ctx, p)
	})
	handleRaw(api.TextDocumentDidClose, true, func(ctx context.Context, c *conn, raw *json.RawMessage) (any, error) {
		p, err := decodeLSP[protocol.DidCloseTextDocumentParams](api.TextDocumentDidClose, raw)
		if err != nil || c.s.lang.srv == nil {
			return nil, errors.Join(err, errNoLang)
		}
		c.s.lang.mu.Lock()
		if c.s.lang.owners[p.TextDocument.URI] == c.id {
			delete(c.s.lang.owners, p.TextDocument.URI)
		}
		c.s.lang.mu.Unlock()
		return nil, c.s.lang.srv.DidClose(ctx, p)
	})
	// Completion and hover read the document state the ordered
	// notifications built, so they run in order too (they are fast).
	handleRaw(api.TextDocumentCompletion, true, func(ctx context.Context, c *conn, raw *json.RawMessage) (any, error) {
		p, err := decodeLSP[protocol.CompletionParams](api.TextDocumentCompletion, raw)
		if err != nil {
			return nil, err
		}
		if c.s.lang.srv == nil {
			return nil, errNoLang
		}
		return c.s.lang.srv.Completion(ctx, p)
	})
	handleRaw(api.TextDocumentHover, true, func(ctx context.Context, c *conn, raw *json.RawMessage) (any, error) {
		p, err := decodeLSP[protocol.HoverParams](api.TextDocumentHover, raw)
		if err != nil {
			return nil, err
		}
		if c.s.lang.srv == nil {
			return nil, errNoLang
		}
		return c.s.lang.srv.Hover(ctx, p)
	})
}
