package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	httpstream "k8s.io/streaming/pkg/httpstream"
)

// dialerFactory builds the upgrade dialer for a port-forward URL.
type dialerFactory func(u *url.URL) (httpstream.Dialer, error)

// dialAttempts bounds Dial's retries; with dialBackoff doubling from 50 ms
// they span about 1.5 s, enough for a pod that just started listening.
const (
	dialAttempts = 5
	dialBackoff  = 50 * time.Millisecond
)

// errorStreamWait is how long a failed read waits for the port-forward's
// error stream to say why, since the two streams close independently.
const errorStreamWait = 2 * time.Second

// requestIDs numbers port-forward requests; the API server pairs a data
// and an error stream by it.
var requestIDs atomic.Int64

// Dial opens one new connection to the agent's 127.0.0.1:<Port> through the
// API server's port-forward: one upgraded connection and one data+error
// stream pair per call, so closing the returned conn releases everything.
// Failures to set up the forward (upgrade errors, a pod the kubelet does
// not serve yet) are retried briefly, about 1.5 s in all. Whether anything
// listens in the pod is only known once data flows: the kubelet's error
// (nothing listening, pod gone) surfaces as the conn's read error.
// CreateAgent returns only after the agent printed that it listens, so a
// first Dial after it connects at once.
func (a *Agent) Dial(ctx context.Context) (net.Conn, error) {
	u, err := a.c.portForwardURL(a.Namespace, a.Pod)
	if err != nil {
		return nil, err
	}
	backoff := dialBackoff
	for attempt := 1; ; attempt++ {
		conn, err := a.c.dialPort(ctx, u, a.Namespace, a.Pod, a.Port)
		if err == nil {
			return conn, nil
		}
		if attempt == dialAttempts || ctx.Err() != nil || permanent(err) {
			return nil, fmt.Errorf("connecting to agent %s/%s port %d through the API server's port-forward (%d attempts): %w", a.Namespace, a.Pod, a.Port, attempt, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connecting to agent %s/%s port %d: %w (last error: %v)", a.Namespace, a.Pod, a.Port, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// permanent errors are not worth a retry: the pod is gone or the user may
// not port-forward. The SPDY upgrader reports the API server's Status only
// as text ("unable to upgrade connection: pods "x" is forbidden: ..."), so
// the text is checked too.
func permanent(err error) bool {
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return true
	}
	return permanentText.MatchString(err.Error())
}

var permanentText = regexp.MustCompile(`(?i)unable to upgrade connection: .*(forbidden|unauthorized|not found)`)

func (c *Client) portForwardURL(ns, pod string) (*url.URL, error) {
	base, _, err := rest.DefaultServerUrlFor(c.Config)
	if err != nil {
		return nil, fmt.Errorf("the API server address %q: %w", c.Config.Host, err)
	}
	u := *base
	u.Path = path.Join(base.Path, "/api/v1/namespaces", ns, "pods", pod, "portforward")
	return &u, nil
}

// dialer returns the port-forward dialer: websocket first (what current API
// servers prefer), SPDY when the server cannot upgrade to websocket, as
// kubectl does.
func (c *Client) dialer(u *url.URL) (httpstream.Dialer, error) {
	if c.newDialer != nil {
		return c.newDialer(u)
	}
	transport, upgrader, err := spdy.RoundTripperFor(c.Config)
	if err != nil {
		return nil, fmt.Errorf("port-forward transport: %w", err)
	}
	spdyDialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, c.Config)
	if err != nil {
		return nil, fmt.Errorf("port-forward websocket dialer: %w", err)
	}
	return portforward.NewFallbackDialerForStreaming(ws, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	}), nil
}

// dialPort upgrades one connection and opens the stream pair for port.
func (c *Client) dialPort(ctx context.Context, u *url.URL, ns, pod string, port int) (net.Conn, error) {
	d, err := c.dialer(u)
	if err != nil {
		return nil, err
	}
	type result struct {
		conn net.Conn
		err  error
	}
	// The upgrade takes no context: run it aside and, when ctx ends first,
	// let it finish and close what it made. It ends with the HTTP round trip.
	done := make(chan result, 1)
	abandoned := make(chan struct{})
	go func() {
		conn, err := openStreams(d, ns, pod, port)
		select {
		case done <- result{conn, err}:
		case <-abandoned:
			if conn != nil {
				conn.Close()
			}
		}
	}()
	select {
	case r := <-done:
		return r.conn, r.err
	case <-ctx.Done():
		close(abandoned)
		// The goroutine may have sent just before: close that too.
		select {
		case r := <-done:
			if r.conn != nil {
				r.conn.Close()
			}
		default:
		}
		return nil, ctx.Err()
	}
}

func openStreams(d httpstream.Dialer, ns, pod string, port int) (net.Conn, error) {
	sc, _, err := d.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return nil, fmt.Errorf("upgrading the connection: %w", err)
	}
	id := strconv.FormatInt(requestIDs.Add(1), 10)
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(port))
	h.Set(corev1.PortForwardRequestIDHeader, id)
	errStream, err := sc.CreateStream(h)
	if err != nil {
		sc.Close()
		return nil, fmt.Errorf("creating the error stream: %w", err)
	}
	// Nothing is ever written to the error stream by this side.
	errStream.Close()
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := sc.CreateStream(h)
	if err != nil {
		sc.Close()
		return nil, fmt.Errorf("creating the data stream: %w", err)
	}
	c := &pfConn{
		sc: sc, data: data, errDone: make(chan struct{}),
		addr: pfAddr(fmt.Sprintf("%s/%s:%d", ns, pod, port)),
	}
	// Owned by the conn: it ends when the error stream closes, which
	// happens at the latest when sc is closed.
	go func() {
		defer close(c.errDone)
		msg, err := io.ReadAll(errStream)
		switch {
		case len(msg) > 0:
			c.remoteErr = fmt.Errorf("port-forward to %s: %s", c.addr, msg)
		case err != nil && !errors.Is(err, io.EOF):
			c.remoteErr = fmt.Errorf("port-forward to %s: reading the error stream: %w", c.addr, err)
		}
	}()
	return c, nil
}

// pfConn is one port-forwarded connection as a net.Conn.
type pfConn struct {
	sc        httpstream.Connection
	data      httpstream.Stream
	addr      pfAddr
	errDone   chan struct{}
	remoteErr error // set before errDone is closed
	closeOnce sync.Once
	closed    atomic.Bool
}

// Read returns the port-forward's own error (for example "connection
// refused" inside the pod) instead of a bare EOF when the forward failed.
func (c *pfConn) Read(p []byte) (int, error) {
	n, err := c.data.Read(p)
	if err != nil && !c.closed.Load() {
		select {
		case <-c.errDone:
			if c.remoteErr != nil {
				return n, c.remoteErr
			}
		case <-time.After(errorStreamWait):
		}
	}
	return n, err
}

func (c *pfConn) Write(p []byte) (int, error) {
	n, err := c.data.Write(p)
	if err != nil {
		select {
		case <-c.errDone:
			if c.remoteErr != nil {
				return n, c.remoteErr
			}
		default:
		}
	}
	return n, err
}

// Close tears down the whole upgraded connection.
func (c *pfConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		err = c.sc.Close()
	})
	return err
}

func (c *pfConn) LocalAddr() net.Addr  { return c.addr }
func (c *pfConn) RemoteAddr() net.Addr { return c.addr }

// errNoDeadlines: streams of an upgraded connection have no deadlines.
var errNoDeadlines = errors.New("a port-forward connection has no deadlines; close it (or cancel the context) to unblock")

func (c *pfConn) SetDeadline(time.Time) error      { return errNoDeadlines }
func (c *pfConn) SetReadDeadline(time.Time) error  { return errNoDeadlines }
func (c *pfConn) SetWriteDeadline(time.Time) error { return errNoDeadlines }

// pfAddr names the forwarded endpoint, "namespace/pod:port".
type pfAddr string

func (a pfAddr) Network() string { return "portforward" }
func (a pfAddr) String() string  { return string(a) }
