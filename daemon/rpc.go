package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"

	"github.com/sourcegraph/jsonrpc2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/schema"
)

// handlerFunc serves one method; raw is the request's params (nil when
// absent).
type handlerFunc func(ctx context.Context, c *conn, raw *json.RawMessage) (any, error)

// route is a table entry. Ordered entries run on the connection's read
// loop, in arrival order (LSP document notifications must not be
// reordered); the others run in their own goroutine.
type route struct {
	fn      handlerFunc
	ordered bool
}

// table maps method names to handlers; built once.
var table = map[string]route{}

// handle registers a typed method.
func handle[P, R any](m api.Method[P, R], fn func(c *conn, ctx context.Context, p *P) (R, error)) {
	table[m.Name] = route{fn: func(ctx context.Context, c *conn, raw *json.RawMessage) (any, error) {
		p := new(P)
		if err := decodeParams(m.Name, raw, p); err != nil {
			return nil, err
		}
		return fn(c, ctx, p)
	}}
}

// handleNotify registers a typed notification.
func handleNotify[P any](n api.Notification[P], ordered bool, fn func(c *conn, ctx context.Context, p *P) error) {
	table[n.Name] = route{ordered: ordered, fn: func(ctx context.Context, c *conn, raw *json.RawMessage) (any, error) {
		p := new(P)
		if err := decodeParams(n.Name, raw, p); err != nil {
			return nil, err
		}
		return nil, fn(c, ctx, p)
	}}
}

// handleRaw registers a method whose params are decoded by fn (the LSP
// document methods, typed by go.lsp.dev/protocol).
func handleRaw(name string, ordered bool, fn handlerFunc) {
	table[name] = route{fn: fn, ordered: ordered}
}

// decodeParams decodes params into p, naming the offending field.
func decodeParams(method string, raw *json.RawMessage, p any) error {
	if raw == nil || string(*raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(*raw, p); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "params"
			}
			return invalidParams("%s: field %q must be %s, not a JSON %s", method, field, jsonKind(te.Type.Kind().String()), te.Value)
		}
		return invalidParams("%s: params: %v", method, err)
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "int", "int64", "int32", "uint", "uint64", "uint32", "float64", "float32":
		return "a number"
	}
	return "of type " + goKind
}

// rpcError is an error with its JSON-RPC code and data.
type rpcError struct {
	code int64
	msg  string
	data *api.ErrorData
}

func (e *rpcError) Error() string { return e.msg }

func invalidParams(format string, args ...any) error {
	return &rpcError{code: api.CodeInvalidParams, msg: fmt.Sprintf(format, args...)}
}

// userErr marks an error as the user's to fix (an unknown session, a bad
// target type).
func userErr(err error) error {
	return &rpcError{code: api.CodeUser, msg: err.Error(), data: &api.ErrorData{Category: "user"}}
}

// toRPCError gives an error its category: the kind of fix it needs.
func toRPCError(err error) *jsonrpc2.Error {
	var re *rpcError
	var ce *schema.ConfigError
	var ne net.Error
	var status apierrors.APIStatus
	out := &jsonrpc2.Error{Message: err.Error()}
	var data *api.ErrorData
	switch {
	case errors.As(err, &re):
		out.Code, data = re.code, re.data
	case errors.As(err, &ce):
		out.Code = api.CodeConfig
		data = &api.ErrorData{Category: "config", Issues: issues(ce.Issues), Help: "fix the config file, or validate it with config/validate"}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		out.Code, data = api.CodeNetwork, &api.ErrorData{Category: "network"}
	case errors.As(err, &status):
		out.Code, data = api.CodeCluster, &api.ErrorData{Category: "cluster"}
	case strings.Contains(err.Error(), "kubeconfig") || strings.Contains(err.Error(), "kube_context"):
		out.Code, data = api.CodeConfig, &api.ErrorData{Category: "config"}
	default:
		out.Code, data = api.CodeInternal, &api.ErrorData{Category: "internal"}
	}
	if data != nil {
		out.SetError(data)
	}
	return out
}

// handler adapts the table to jsonrpc2.
type handler struct{ c *conn }

func (h handler) Handle(ctx context.Context, jc *jsonrpc2.Conn, req *jsonrpc2.Request) {
	c := h.c
	<-c.ready
	r, ok := table[req.Method]
	c.mu.Lock()
	down := c.shutdown
	c.mu.Unlock()
	switch {
	case !ok:
		if req.Notif {
			// LSP: unknown notifications are ignored ($/ ones explicitly).
			slog.Debug("ignoring an unknown notification", "client", c.id, "method", req.Method)
			return
		}
		reply(ctx, jc, req, nil, &rpcError{code: api.CodeMethodNotFound, msg: fmt.Sprintf("method %q not found: this daemon (protocol %d) serves %s", req.Method, api.ProtocolVersion, strings.Join(methodNames(), ", "))})
		return
	case down && req.Method != api.Exit.Name:
		if !req.Notif {
			reply(ctx, jc, req, nil, &rpcError{code: api.CodeInvalidRequest, msg: fmt.Sprintf("%s after shutdown: only exit is accepted", req.Method)})
		}
		return
	}
	run := func() {
		res, err := safeCall(ctx, c, req, r.fn)
		if req.Notif {
			if err != nil {
				slog.Warn("notification failed", "client", c.id, "method", req.Method, "err", err)
			}
			return
		}
		reply(ctx, jc, req, res, err)
	}
	if r.ordered {
		run()
		return
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		run()
	}()
}

// safeCall runs a handler, turning a panic into an internal error so one
// bad request never takes down the daemon.
func safeCall(ctx context.Context, c *conn, req *jsonrpc2.Request, fn handlerFunc) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			slog.Error("handler panicked", "method", req.Method, "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in %s: %v (see the daemon log)", req.Method, p)
		}
	}()
	return fn(ctx, c, req.Params)
}

func reply(ctx context.Context, jc *jsonrpc2.Conn, req *jsonrpc2.Request, res any, err error) {
	var werr error
	if err != nil {
		slog.Info("request failed", "method", req.Method, "err", err)
		werr = jc.ReplyWithError(ctx, req.ID, toRPCError(err))
	} else {
		werr = jc.Reply(ctx, req.ID, res)
	}
	if werr != nil && !errors.Is(werr, jsonrpc2.ErrClosed) {
		slog.Debug("replying", "method", req.Method, "err", werr)
	}
}

func methodNames() []string {
	var out []string
	for _, i := range api.All {
		if !i.Notify {
			out = append(out, i.Name)
		}
	}
	return out
}

func issues(in []schema.Issue) []api.Issue {
	out := make([]api.Issue, len(in))
	for i, is := range in {
		out[i] = api.Issue{File: is.File, Line: is.Line(), Col: is.Col(), Path: is.Path, Message: is.Msg}
	}
	return out
}
