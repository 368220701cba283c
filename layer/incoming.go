package layer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/layer/internal/incoming"
	"github.com/mirrord-go/mirrord/layer/internal/netfilter"
	"github.com/mirrord-go/mirrord/schema"
)

// Incoming receives the target's incoming traffic for the programs of one
// agent session and hands it to their listeners. It must exist before the
// agent connection, since its OnStream and OnEvent are client options;
// Attach then gives it the session. One Incoming serves every program of
// the session (ExecOptions.Incoming, ServeOptions.Incoming).
type Incoming struct{ hub *incoming.Hub }

// NewIncoming returns an Incoming without a session yet.
func NewIncoming(log *slog.Logger) *Incoming { return &Incoming{hub: incoming.NewHub(log)} }

// Attach gives it the agent session.
func (i *Incoming) Attach(r Remote) { i.hub.Attach(r) }

// OnStream serves a stream the agent opened (protocol.ClientOptions.OnStream).
func (i *Incoming) OnStream(h protocol.StreamHeader, st *protocol.AgentStream) { i.hub.OnStream(h, st) }

// OnEvent handles the agent's incoming-traffic events
// (protocol.ClientOptions.OnEvent); it reports whether it took kind.
func (i *Incoming) OnEvent(kind protocol.Kind, body []byte) bool {
	if kind != protocol.EventSubscriptionLost {
		return false
	}
	var ev protocol.SubscriptionLost
	if protocol.Unmarshal(body, &ev) == nil {
		i.hub.Lost(ev.ID, ev.Reason)
	}
	return true
}

// Forward delivers the traffic of the target's port remote to the local
// server at 127.0.0.1:local (mirrord port-forward -R), in cfg's mode and
// with its HTTP filter. A local server that is not up refuses the
// connection, which the agent then hands to the pod; the forward stays.
// warning, when set, is for the user. Close (or stop) ends it.
func (i *Incoming) Forward(ctx context.Context, cfg schema.IncomingConfig, remote, local uint16) (warning string, stop func(), err error) {
	plan, err := netfilter.NewIncoming(cfg)
	if err != nil {
		return "", nil, err
	}
	if plan == nil {
		return "", nil, errors.New("feature.network.incoming is off: reverse port forwarding needs mode mirror or steal")
	}
	sub, err := i.hub.SubscribeFixed(ctx, plan.Request(remote), netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), local))
	if err != nil {
		return "", nil, fmt.Errorf("subscribing the target's port %d: %w", remote, err)
	}
	return plan.Warning, sub.Close, nil
}

// Close ends every delivered connection.
func (i *Incoming) Close() { i.hub.Close() }

func (i *Incoming) hubOrNil() *incoming.Hub {
	if i == nil {
		return nil
	}
	return i.hub
}
