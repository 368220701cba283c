package httpsteal

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
)

// session is the state of one stolen connection that speaks HTTP.
type session struct {
	ctx      context.Context
	opts     Options
	log      *slog.Logger
	errLog   *log.Logger // net/http's and ReverseProxy's own chatter, at debug level
	handlers *tracker
	h2s      *http2.Server
	base     *http.Server // BaseConfig of the HTTP/2 server
	fellBack atomic.Bool  // a request fell back to the original app
}

func newSession(ctx context.Context, opts Options, lg *slog.Logger) *session {
	errLog := slog.NewLogLogger(lg.Handler(), slog.LevelDebug)
	return &session{
		ctx:      ctx,
		opts:     opts,
		log:      lg,
		errLog:   errLog,
		handlers: newTracker(),
		h2s:      &http2.Server{},
		base:     &http.Server{ErrorLog: errLog},
	}
}

// serveHTTP1 serves an HTTP/1.x connection with net/http, which gives
// keep-alive, pipelining, chunking and Expect: 100-continue their usual
// semantics; each request on it is routed on its own.
func (s *session) serveHTTP1(c net.Conn) {
	done := make(chan struct{})
	var once sync.Once
	srv := &http.Server{
		Handler:     handler{s: s},
		ErrorLog:    s.errLog,
		BaseContext: func(net.Listener) context.Context { return s.ctx },
		// The connection is over when net/http closes it, or when a
		// handler hijacks it (an Upgrade): that handler then owns it,
		// and the tracker waits for it.
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				once.Do(func() { close(done) })
			}
		},
	}
	l := newOneConnListener(c)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l) // ends with l.Close below
	}()
	drained := make(chan struct{})
	var draining atomic.Bool
	go func() {
		defer close(drained)
		select {
		case <-s.opts.Drain: // a nil Drain never fires
			draining.Store(true)
			srv.SetKeepAlivesEnabled(false)
			// Closes the connection once it is idle: after the request
			// in flight, if any, was answered.
			_ = srv.Shutdown(s.ctx)
		case <-done:
		case <-served:
		}
	}()
	select {
	case <-done:
	case <-served:
		if draining.Load() {
			// Shutdown ended Serve; the connection finishes its request
			// and Shutdown closes it.
			select {
			case <-done:
			case <-s.ctx.Done():
			}
		}
		c.Close()
	}
	l.Close()
	<-served
	<-drained
	s.handlers.closeAndWait()
}

// serveH2 serves an HTTP/2 connection that began with the prior-knowledge
// preface; each stream is routed on its own.
func (s *session) serveH2(c net.Conn) {
	s.h2s.ServeConn(c, &http2.ServeConnOpts{Context: s.ctx, BaseConfig: s.base, Handler: handler{s: s, h2: true}})
	s.handlers.closeAndWait()
}

// handler routes the requests of one connection. h2 is set for the
// streams of an HTTP/2 connection (prior knowledge or upgraded), whose
// requests are forwarded as HTTP/2 too.
type handler struct {
	s  *session
	h2 bool
}

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.s.handlers.enter() {
		// The connection is being torn down, and this request was not
		// forwarded anywhere: reset it so that the client retries it
		// elsewhere, rather than answer an error it would not retry.
		// ErrAbortHandler is net/http's documented way for a handler to
		// abort (the server recovers it and logs nothing); a handler has
		// no error to return.
		panic(http.ErrAbortHandler)
	}
	defer h.s.handlers.leave()
	if !h.h2 && isH2CUpgrade(r.Header) {
		h.s.upgradeH2C(w, r)
		return
	}
	h.s.route(w, r, h.h2)
}

// route picks the destination of one request and proxies it there. A
// request for a local app that cannot be dialled goes to the original app.
func (s *session) route(w http.ResponseWriter, r *http.Request, h2 bool) {
	dst := s.opts.Original
	if s.opts.Pick != nil {
		if d := s.opts.Pick(r); d != nil {
			dst = d
		}
	}
	if dst == s.opts.Original {
		s.proxy(w, r, dst, h2, nil)
		return
	}
	var body *guardBody
	if r.Body != nil && r.Body != http.NoBody {
		body = &guardBody{rc: r.Body}
		r.Body = body
	}
	if s.proxy(w, r, dst, h2, body) {
		body.release()
		return
	}
	level := slog.LevelDebug
	if !s.fellBack.Swap(true) {
		level = slog.LevelInfo // once per connection, not once per request
	}
	s.log.Log(r.Context(), level, "local app unreachable, request goes to the original app",
		"destination", dst.name, "method", r.Method, "path", r.URL.Path)
	if body != nil {
		r.Body = body.rc
	}
	s.proxy(w, r, s.opts.Original, h2, nil)
}

// proxy forwards r to dst. When dst is a local app, a failure to dial it
// before any of the body (guarded by body, if there is one) was read is
// not answered: proxy returns false and the caller sends the request to
// the original app. Any other failure is answered with 502.
func (s *session) proxy(w http.ResponseWriter, r *http.Request, dst *Destination, h2 bool, body *guardBody) bool {
	canFallBack := dst != s.opts.Original
	ok := true
	var rp *httputil.ReverseProxy
	rp = &httputil.ReverseProxy{
		Rewrite:       rewrite,
		Transport:     dst.transport(h2),
		FlushInterval: flushInterval(h2),
		BufferPool:    buffers,
		ErrorLog:      s.errLog,
		ModifyResponse: func(res *http.Response) error {
			if trailersOnly(res) {
				// Flushing would send the headers without END_STREAM
				// before the handler returns; gRPC clients then see a
				// stream closed without trailers.
				rp.FlushInterval = 0
				res.ContentLength = 0
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if canFallBack && isDialError(err) && !body.started() {
				ok = false
				return
			}
			s.fail(w, r, dst, err)
		},
	}
	rp.ServeHTTP(w, r)
	return ok
}

// trailersOnly reports a gRPC "Trailers-Only" response: the status is in
// the headers, which carried END_STREAM, and nothing follows.
func trailersOnly(res *http.Response) bool {
	return res.ProtoMajor == 2 && res.Header.Get("Grpc-Status") != ""
}

// flushInterval: HTTP/2 responses (gRPC streams) are flushed on every
// write. HTTP/1 responses with a Content-Length are complete as soon as
// they are written, and flushing their headers separately would cost a
// write per response; ReverseProxy flushes every write of those without
// one (chunked streaming) and of text/event-stream by itself.
func flushInterval(h2 bool) time.Duration {
	if h2 {
		return -1
	}
	return 0
}

// fail answers a request that dst did not answer.
func (s *session) fail(w http.ResponseWriter, r *http.Request, dst *Destination, err error) {
	level := slog.LevelWarn
	if r.Context().Err() != nil {
		level = slog.LevelDebug // the client went away first
	}
	s.log.Log(r.Context(), level, "stolen request failed",
		"destination", dst.name, "method", r.Method, "path", r.URL.Path, "err", err)
	http.Error(w, fmt.Sprintf("mirrord: %s did not answer", dst.name), http.StatusBadGateway)
}

// forwardedHeaders are removed by ReverseProxy before Rewrite. The steal
// is meant to be invisible, so the client's own values go through.
var forwardedHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// rewrite keeps the request as the client sent it: the Host header, the
// path and query, no X-Forwarded-For. Only the URL's host changes, to the
// pool key (the destination's dial decides where the bytes go).
func rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = poolKey
	pr.Out.Host = pr.In.Host
	for _, k := range forwardedHeaders {
		if v, ok := pr.In.Header[k]; ok {
			pr.Out.Header[k] = v
		}
	}
}

// guardBody defers closing a request body until it is known whether the
// request will be retried elsewhere: transports close the body when a
// dial fails, which would otherwise lose it for the fallback.
type guardBody struct {
	rc       io.ReadCloser
	read     atomic.Bool // a transport began reading: no fallback any more
	released atomic.Bool
	closeReq atomic.Bool
}

func (b *guardBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.rc.Read(p)
}

func (b *guardBody) Close() error {
	if b.read.Load() || b.released.Load() {
		return b.rc.Close()
	}
	b.closeReq.Store(true)
	return nil
}

// started reports whether any of the body may have been sent. A nil body
// has nothing to send.
func (b *guardBody) started() bool { return b != nil && b.read.Load() }

// release passes on a Close that was held back, once no fallback follows.
func (b *guardBody) release() {
	if b == nil {
		return
	}
	b.released.Store(true)
	if b.closeReq.Load() {
		b.rc.Close()
	}
}

// maxUpgradeBody bounds the body of an Upgrade: h2c request, which must be
// read before switching protocols. A bigger one is served as HTTP/1.1
// without the upgrade, which the client has to accept (RFC 7230 §6.7).
const maxUpgradeBody = 64 << 10

// isH2CUpgrade reports an upgrade from HTTP/1.1 to h2c (RFC 7540 §3.2).
func isH2CUpgrade(h http.Header) bool {
	return httpguts.HeaderValuesContainsToken(h["Upgrade"], "h2c") &&
		httpguts.HeaderValuesContainsToken(h["Connection"], "HTTP2-Settings")
}

// upgradeH2C switches the connection to HTTP/2 and serves the upgrading
// request as its stream 1, so that it and every later stream are routed
// one by one. (golang.org/x/net/http2/h2c does the same but is
// deprecated, and net/http supports only prior knowledge.)
func (s *session) upgradeH2C(w http.ResponseWriter, r *http.Request) {
	settings, err := h2Settings(r.Header)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(r.Body, maxUpgradeBody+1))
		if err != nil {
			s.log.Debug("h2c upgrade: read the request body", "err", err)
			return
		}
		if len(body) > maxUpgradeBody {
			r.Body = readCloser{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
			err = errors.New("request body too large to upgrade")
		}
	}
	if err != nil {
		s.log.Debug("h2c upgrade declined", "err", err)
		r.Header.Del("Upgrade")
		r.Header.Del("Http2-Settings")
		s.route(w, r, false)
		return
	}

	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.log.Warn("h2c upgrade: hijack", "err", err)
		return
	}
	defer conn.Close()
	if _, err := rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"); err != nil {
		return
	}
	if err := rw.Flush(); err != nil {
		return
	}
	var c net.Conn = conn
	if n := rw.Reader.Buffered(); n > 0 {
		pre, _ := rw.Reader.Peek(n)
		c = &prefixConn{Conn: conn, pre: pre}
	}

	// The server runs stream 1 with the request's own context, so it has
	// to end with the connection (ServeConn returning) or the handler
	// could outlive it, waiting on a slow app.
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	up := r.Clone(ctx)
	for _, k := range []string{"Connection", "Upgrade", "Http2-Settings", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding"} {
		up.Header.Del(k)
	}
	up.Proto, up.ProtoMajor, up.ProtoMinor = "HTTP/2.0", 2, 0
	up.Body = io.NopCloser(bytes.NewReader(body))
	up.ContentLength = int64(len(body))
	up.TransferEncoding = nil
	s.h2s.ServeConn(c, &http2.ServeConnOpts{
		Context:        s.ctx,
		BaseConfig:     s.base,
		Handler:        handler{s: s, h2: true},
		UpgradeRequest: up,
		Settings:       settings,
	})
}

// h2Settings decodes the HTTP2-Settings header of an h2c upgrade.
func h2Settings(h http.Header) ([]byte, error) {
	vals := h["Http2-Settings"]
	if len(vals) != 1 {
		return nil, fmt.Errorf("want one HTTP2-Settings header, got %d", len(vals))
	}
	b, err := base64.RawURLEncoding.DecodeString(vals[0])
	if err != nil {
		return nil, fmt.Errorf("HTTP2-Settings: %w", err)
	}
	return b, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// buffers recycles ReverseProxy's copy buffers across requests.
var buffers = &bufferPool{}

type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }
