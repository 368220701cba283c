// Package lang gives mirrord config files (JSON, TOML and YAML) the
// language features an editor expects: diagnostics with exact ranges,
// completion of keys and values from the config schema, and hover docs.
// It speaks go.lsp.dev/protocol types, so the daemon can serve it over its
// own connection or over a stdio bridge, and one implementation serves
// every IDE, including editors whose JSON schema support stops at JSON.
package lang

import (
	"context"
	"fmt"
	"path"
	"strings"
	"sync"

	"go.lsp.dev/protocol"
)

// Server holds the open config documents of one client.
type Server struct {
	publish func(ctx context.Context, p *protocol.PublishDiagnosticsParams) error

	mu   sync.Mutex
	docs map[protocol.DocumentURI]*openDoc
	// pubMu orders publications, so that an older version's diagnostics
	// never arrive after a newer one's.
	pubMu sync.Mutex
}

type openDoc struct {
	name    string // the file name the format and messages come from
	text    string
	version int32
}

// New returns a server; publish sends textDocument/publishDiagnostics to
// the client that owns the document.
func New(publish func(ctx context.Context, p *protocol.PublishDiagnosticsParams) error) *Server {
	return &Server{publish: publish, docs: map[protocol.DocumentURI]*openDoc{}}
}

// Capabilities are the server's part of the initialize result.
func (s *Server) Capabilities() protocol.ServerCapabilities {
	return protocol.ServerCapabilities{
		TextDocumentSync: &protocol.TextDocumentSyncOptions{
			OpenClose: true,
			Change:    protocol.TextDocumentSyncKindFull,
		},
		CompletionProvider: &protocol.CompletionOptions{TriggerCharacters: []string{`"`, ":", "=", ".", "'", "-"}},
		HoverProvider:      true,
	}
}

// docName picks the name that selects the format: the URI's file name
// when its extension is known, else one made from the language id (an
// untitled buffer).
func docName(u protocol.DocumentURI, lang protocol.LanguageIdentifier) string {
	name := string(u)
	if strings.HasPrefix(name, "file://") {
		name = u.Filename()
	} else if i := strings.IndexAny(name, "?#"); i >= 0 {
		name = name[:i]
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".json", ".toml", ".yaml", ".yml":
		return name
	}
	switch strings.ToLower(string(lang)) {
	case "toml":
		return name + ".toml"
	case "yaml":
		return name + ".yaml"
	}
	return name + ".json"
}

// DidOpen starts tracking a document and publishes its diagnostics.
func (s *Server) DidOpen(ctx context.Context, p *protocol.DidOpenTextDocumentParams) error {
	d := &openDoc{name: docName(p.TextDocument.URI, p.TextDocument.LanguageID), text: p.TextDocument.Text, version: p.TextDocument.Version}
	s.mu.Lock()
	s.docs[p.TextDocument.URI] = d
	s.mu.Unlock()
	return s.diagnose(ctx, p.TextDocument.URI, d.name, d.text, d.version)
}

// DidChange takes the new full text (the server asks for full sync; the
// last change of a batch is the text) and publishes fresh diagnostics.
func (s *Server) DidChange(ctx context.Context, p *protocol.DidChangeTextDocumentParams) error {
	u := p.TextDocument.URI
	s.mu.Lock()
	d, ok := s.docs[u]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("didChange for %s, which is not open: the client must send didOpen first", u)
	}
	if n := len(p.ContentChanges); n > 0 {
		d.text = p.ContentChanges[n-1].Text
	}
	d.version = p.TextDocument.Version
	name, text, version := d.name, d.text, d.version
	s.mu.Unlock()
	return s.diagnose(ctx, u, name, text, version)
}

// DidClose forgets a document and clears its diagnostics.
func (s *Server) DidClose(ctx context.Context, p *protocol.DidCloseTextDocumentParams) error {
	s.mu.Lock()
	delete(s.docs, p.TextDocument.URI)
	s.mu.Unlock()
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	if err := s.publish(ctx, &protocol.PublishDiagnosticsParams{URI: p.TextDocument.URI, Diagnostics: []protocol.Diagnostic{}}); err != nil {
		return fmt.Errorf("clearing diagnostics of %s: %w", p.TextDocument.URI, err)
	}
	return nil
}

func (s *Server) diagnose(ctx context.Context, u protocol.DocumentURI, name, text string, version int32) error {
	diags := Validate(name, []byte(text))
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	d, ok := s.docs[u]
	stale := !ok || d.version != version
	s.mu.Unlock()
	if stale {
		return nil // a newer change (or the close) publishes its own
	}
	err := s.publish(ctx, &protocol.PublishDiagnosticsParams{URI: u, Version: uint32(max(version, 0)), Diagnostics: diags})
	if err != nil {
		return fmt.Errorf("publishing diagnostics of %s: %w", u, err)
	}
	return nil
}

// snapshot returns an open document's name and text.
func (s *Server) snapshot(u protocol.DocumentURI) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.docs[u]
	if !ok {
		return "", "", fmt.Errorf("%s is not open: the client must send didOpen first", u)
	}
	return d.name, d.text, nil
}

// Completion offers the keys or values valid at the position.
func (s *Server) Completion(_ context.Context, p *protocol.CompletionParams) (*protocol.CompletionList, error) {
	name, text, err := s.snapshot(p.TextDocument.URI)
	if err != nil {
		return nil, err
	}
	return complete(formatOf(name), text, newText(text).offset(p.Position)), nil
}

// Hover shows the description and default of the key under the position;
// nil when there is nothing to say.
func (s *Server) Hover(_ context.Context, p *protocol.HoverParams) (*protocol.Hover, error) {
	name, text, err := s.snapshot(p.TextDocument.URI)
	if err != nil {
		return nil, err
	}
	return hover(formatOf(name), text, newText(text).offset(p.Position)), nil
}
