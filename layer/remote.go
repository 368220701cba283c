package layer

import (
	"context"
	"net"
	"net/netip"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// Remote is the agent session the layer works through. *protocol.Client
// satisfies it; tests use a client connected to a protocol.Serve fake.
type Remote interface {
	Call(ctx context.Context, kind protocol.Kind, req, resp any) error
	Open(ctx context.Context, h protocol.StreamHeader) (net.Conn, protocol.StreamReply, error)
	DialTCP(ctx context.Context, addr string) (net.Conn, error)
	DialUDP(ctx context.Context, addr string) (net.Conn, error)
	Lookup(ctx context.Context, name string) ([]netip.Addr, error)
}

var _ Remote = (*protocol.Client)(nil)
