package protocol

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/yamux"
)

// Heartbeat settings shared by both ends. yamux pings every KeepAlive and
// gives up when a ping gets no answer within WriteTimeout, so a dead peer is
// noticed within DeadPeerBound.
const (
	KeepAlive     = 5 * time.Second
	WriteTimeout  = 10 * time.Second
	DeadPeerBound = KeepAlive + WriteTimeout
)

// TokenHash is what the agent is given instead of the token, so that reading
// the agent's pod spec does not reveal the secret.
func TokenHash(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// ErrRefused wraps the agent's reason for refusing a session.
var ErrRefused = errors.New("agent refused the session")

func yamuxConfig(heartbeat time.Duration) *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = true
	cfg.KeepAliveInterval = KeepAlive
	cfg.ConnectionWriteTimeout = WriteTimeout
	if heartbeat > 0 {
		cfg.KeepAliveInterval = heartbeat
		cfg.ConnectionWriteTimeout = 2 * heartbeat
	}
	cfg.LogOutput = io.Discard
	// Large windows: a stream is a TCP flow or a file, and the port-forward
	// under it has high latency.
	cfg.MaxStreamWindowSize = 1 << 20
	cfg.StreamOpenTimeout = 30 * time.Second
	// A peer that half-closed and never finishes gets a RST after this.
	cfg.StreamCloseTimeout = time.Minute
	return cfg
}

// withDeadline bounds a blocking handshake on rw by ctx: rw is closed when
// ctx ends first, which unblocks the read or write.
func withDeadline(ctx context.Context, rw io.ReadWriteCloser, f func() error) error {
	if c, ok := rw.(net.Conn); ok {
		if d, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(d)
			defer c.SetDeadline(time.Time{})
		}
	}
	stop := context.AfterFunc(ctx, func() { rw.Close() })
	err := f()
	if !stop() {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// settle picks the newest version both sides speak.
func settle(ours, theirs []uint16) (uint16, bool) {
	best, ok := uint16(0), false
	for _, v := range theirs {
		if slices.Contains(ours, v) && (!ok || v > best) {
			best, ok = v, true
		}
	}
	return best, ok
}

// checkHello validates a client's Hello against the token hash and the
// versions this build speaks. It returns the settled version or the reason
// to refuse.
func checkHello(h Hello, tokenHash [32]byte, versions []uint16) (uint16, string) {
	got := TokenHash(h.Token)
	if h.Token == "" || subtle.ConstantTimeCompare(got[:], tokenHash[:]) != 1 {
		return 0, "missing or wrong session token"
	}
	v, ok := settle(versions, h.Versions)
	if !ok {
		return 0, fmt.Sprintf("no common protocol version: agent speaks %v, client %v", versions, h.Versions)
	}
	return v, ""
}
