// Package server accepts client connections on the agent's listener, runs
// one protocol session per connection and decides when the agent's work is
// over. An agent is a throwaway pod: it must go away by itself when no
// client ever comes (communication_timeout), when its last client has left
// (plus the idle TTL, so a quick restart can reuse it), or when Kubernetes
// stops it, and never linger holding the target's namespaces.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// Options configure Run.
type Options struct {
	TokenHash [32]byte
	// Agent names the agent and its version in the handshake.
	Agent string
	// CommunicationTimeout bounds the wait for the first authenticated
	// client after Run starts.
	CommunicationTimeout time.Duration
	// IdleTTL is how long to stay up after the last client left.
	IdleTTL time.Duration
	// NewHandler serves one authenticated session.
	NewHandler func(*protocol.ServerSession) protocol.Handler
	// Heartbeat overrides protocol.KeepAlive (tests).
	Heartbeat time.Duration
	// ShutdownGrace bounds the wait for sessions to close on exit (5 s).
	ShutdownGrace time.Duration
	Log           *slog.Logger
}

// NoClientError ends Run when no client authenticated in time. It is a
// normal end (the CLI gave up or crashed), not a failure of the agent.
type NoClientError struct{ Timeout time.Duration }

func (e *NoClientError) Error() string {
	return fmt.Sprintf("no client connected within %s s (agent.communication_timeout)", strconv.FormatFloat(e.Timeout.Seconds(), 'f', -1, 64))
}

// Run serves ln until the agent's work is over. It returns nil when the
// last client left and the idle TTL passed, or when ctx ended (a signal);
// a *NoClientError when no client came; another error when ln fails. It
// closes ln and every session before returning.
func Run(ctx context.Context, ln net.Listener, opts Options) error {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	grace := opts.ShutdownGrace
	if grace == 0 {
		grace = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		ln.Close()
		waitBounded(&wg, grace, log)
	}()

	// events carries +1 when a client authenticates and -1 when its
	// session ends; the loop below owns the count and the timers.
	events := make(chan int)
	acceptErr := make(chan error, 1)
	send := func(d int) {
		select {
		case events <- d:
		case <-ctx.Done():
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveConn(ctx, conn, opts, log, send)
			}()
		}
	}()

	first := time.NewTimer(opts.CommunicationTimeout)
	defer first.Stop()
	firstC := first.C
	var idle *time.Timer
	var idleC <-chan time.Time
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	active := 0
	for {
		select {
		case <-ctx.Done():
			log.Info("stopping", "reason", context.Cause(ctx), "clients", active)
			return nil
		case err := <-acceptErr:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accepting connections on %s: %w", ln.Addr(), err)
		case <-firstC:
			return &NoClientError{Timeout: opts.CommunicationTimeout}
		case <-idleC:
			log.Info("no client left and the idle TTL passed; exiting", "idle_ttl", opts.IdleTTL)
			return nil
		case d := <-events:
			active += d
			if d > 0 {
				firstC = nil
				if idle != nil {
					idle.Stop()
					idle, idleC = nil, nil
				}
				continue
			}
			if active > 0 {
				continue
			}
			if opts.IdleTTL <= 0 {
				log.Info("last client left; exiting")
				return nil
			}
			log.Info("last client left; waiting for a new one", "idle_ttl", opts.IdleTTL)
			idle = time.NewTimer(opts.IdleTTL)
			idleC = idle.C
		}
	}
}

// serveConn runs one session and reports its start and end.
func serveConn(ctx context.Context, conn net.Conn, opts Options, log *slog.Logger, send func(int)) {
	authed := false
	err := protocol.Serve(ctx, conn, protocol.ServerOptions{
		TokenHash: opts.TokenHash, Agent: opts.Agent, Heartbeat: opts.Heartbeat, Logger: log,
	}, func(ss *protocol.ServerSession) protocol.Handler {
		authed = true
		send(+1)
		return opts.NewHandler(ss)
	})
	if authed {
		send(-1)
	}
	switch {
	case err == nil:
		if authed {
			log.Info("client disconnected", "remote", conn.RemoteAddr())
		}
	case ctx.Err() != nil:
	case !authed:
		log.Warn("connection refused", "remote", conn.RemoteAddr(), "err", err)
	default:
		log.Warn("session ended", "remote", conn.RemoteAddr(), "err", err)
	}
}

// waitBounded waits for the sessions to close, but not longer than grace:
// an agent told to stop must stop even if a relay is stuck.
func waitBounded(wg *sync.WaitGroup, grace time.Duration, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("sessions did not close in time; exiting anyway", "grace", grace)
	}
}

// IsNoClient reports whether err is a *NoClientError.
func IsNoClient(err error) bool {
	var e *NoClientError
	return errors.As(err, &e)
}
