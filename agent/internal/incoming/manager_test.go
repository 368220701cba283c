//go:build linux

package incoming

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

type nopClient struct{}

func (nopClient) Open(context.Context, protocol.StreamHeader) (net.Conn, error) {
	return nil, errors.New("not used")
}

// The requests refused before anything is opened in the target.
func TestSubscribeRefusesBadRequests(t *testing.T) {
	tests := []struct {
		name     string
		req      protocol.SubscribeRequest
		wantCode protocol.Code
		want     string
	}{
		{"port 0", protocol.SubscribeRequest{Mode: protocol.ModeSteal}, protocol.CodeInvalid, "port 0"},
		{"unknown mode", protocol.SubscribeRequest{Port: 80, Mode: "copy"}, protocol.CodeInvalid, `unknown mode "copy"`},
		{"filter with mirror", protocol.SubscribeRequest{Port: 80, Mode: protocol.ModeMirror, HTTPFilter: &protocol.HTTPFilter{Header: "x"}}, protocol.CodeInvalid, "needs mode steal"},
		{"bad regex", protocol.SubscribeRequest{Port: 80, Mode: protocol.ModeSteal, HTTPFilter: &protocol.HTTPFilter{Path: "("}}, protocol.CodeInvalid, "port 80"},
		{"two fields in one filter", protocol.SubscribeRequest{Port: 80, Mode: protocol.ModeSteal, HTTPFilter: &protocol.HTTPFilter{Path: "/a", Header: "b"}}, protocol.CodeInvalid, "port 80"},
	}
	m := New(Options{Owner: "test"})
	t.Cleanup(func() { m.Close() })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Subscribe(context.Background(), nopClient{}, tt.req)
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != tt.wantCode || !strings.Contains(pe.Msg, tt.want) {
				t.Fatalf("err = %v, want %s containing %q", err, tt.wantCode, tt.want)
			}
		})
	}
}

func TestUnsubscribeUnknown(t *testing.T) {
	m := New(Options{Owner: "test"})
	t.Cleanup(func() { m.Close() })
	var pe *protocol.Error
	if err := m.Unsubscribe(nopClient{}, 7); !errors.As(err, &pe) || pe.Code != protocol.CodeNotFound {
		t.Fatalf("err = %v, want not found", err)
	}
	m.Release(nopClient{}) // nothing to release: no panic, no error
}

func TestSubscribeAfterClose(t *testing.T) {
	m := New(Options{Owner: "test"})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Subscribe(context.Background(), nopClient{}, protocol.SubscribeRequest{Port: 80, Mode: protocol.ModeSteal}); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Fatalf("err = %v, want shutting down", err)
	}
}
