package httpsteal

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"
)

// poolKey is the URL host of every proxied request. A Destination's dial
// ignores the address, so one key keeps all requests on one connection
// pool whatever Host header the client sent (the Host header itself is
// preserved; see rewrite).
const poolKey = "steal.mirrord.invalid"

// Destination is a place requests can go: the original app in the pod, or
// a developer's local app that the agent reaches through a tunnel. It owns
// connection pools for HTTP/1.1 and for h2c (prior knowledge), so that
// keep-alive connections to it are shared by every stolen connection that
// routes there. It is safe for concurrent use.
type Destination struct {
	name string
	dial func(ctx context.Context) (net.Conn, error)
	h1   *http.Transport
	h2   *http2.Transport
}

// NewDestination returns a Destination reached by dial. name appears in
// logs and errors. dial should honour ctx: a request whose client goes
// away cancels it.
func NewDestination(name string, dial func(ctx context.Context) (net.Conn, error)) *Destination {
	d := &Destination{name: name, dial: dial}
	d.h1 = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.dialConn(ctx)
		},
		// The client chose its encoding; a proxy that asks for gzip and
		// decompresses would change what both sides see.
		DisableCompression:  true,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}
	d.h2 = &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			return d.dialConn(ctx)
		},
		DisableCompression: true,
	}
	return d
}

// Name is the name given to NewDestination.
func (d *Destination) Name() string { return d.name }

// CloseIdle closes the pooled connections that carry no request. Call it
// when the destination is no longer used (its subscription ended); active
// requests finish normally.
func (d *Destination) CloseIdle() {
	d.h1.CloseIdleConnections()
	d.h2.CloseIdleConnections()
}

// transport is the pool for a request that arrived as HTTP/2 (h2 in, h2
// out, so gRPC and stream multiplexing survive) or as HTTP/1.x.
func (d *Destination) transport(h2 bool) http.RoundTripper {
	if h2 {
		return d.h2
	}
	return d.h1
}

func (d *Destination) dialConn(ctx context.Context) (net.Conn, error) {
	c, err := d.dial(ctx)
	if err != nil {
		return nil, &dialError{dest: d.name, err: err}
	}
	return c, nil
}

// dialError marks a failure to reach a destination at all. Nothing of the
// request has been sent then, which is what makes falling back to the
// original app safe.
type dialError struct {
	dest string
	err  error
}

func (e *dialError) Error() string { return fmt.Sprintf("dial %s: %v", e.dest, e.err) }
func (e *dialError) Unwrap() error { return e.err }

func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de)
}
