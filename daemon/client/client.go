// Package client is the Go client of the mirrord daemon: it finds the
// daemon of this build, starts it when it is not running (dial, lock,
// remove a stale socket, spawn `mirrord daemon serve` in its own session,
// retry with bounded backoff), performs the initialize handshake and
// offers typed calls over daemon/api's definitions. The CLI (`mirrord ls`,
// `mirrord daemon ...`) uses it; the IDE plugins do the same in their own
// languages.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/sourcegraph/jsonrpc2"
	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/internal/rundir"
	"github.com/mirrord-go/mirrord/internal/buildinfo"
)

// ErrNotRunning is returned by a dial without AutoStart when no daemon
// answers.
var ErrNotRunning = errors.New("no mirrord daemon is running")

// Options configure a dial.
type Options struct {
	// Socket defaults to this build's socket (rundir.Socket).
	Socket string
	// AutoStart starts the daemon when none answers.
	AutoStart bool
	// Exe is the binary started as `Exe daemon serve`; default: this one.
	Exe string
	// ServeArgs are extra arguments for `daemon serve` (e.g. the idle
	// timeout).
	ServeArgs []string
	// StartTimeout bounds the wait for a started daemon; default 10 s.
	StartTimeout time.Duration
	// Name is sent as clientInfo.name.
	Name string
	// OnNotify receives the daemon's notifications, in order, on the
	// connection's read goroutine: it must not block for long.
	OnNotify func(method string, params json.RawMessage)
	// Init is sent with initialize.
	Init *api.InitializeOptions
}

// Client is a connection to the daemon.
type Client struct {
	rpc  *jsonrpc2.Conn
	Info api.InitializeResult
}

// Dial connects to the daemon (starting it if asked) and initializes.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	nc, err := DialRaw(ctx, opts)
	if err != nil {
		return nil, err
	}
	return New(ctx, nc, opts)
}

// New runs the client protocol over an established connection and
// initializes.
func New(ctx context.Context, rwc io.ReadWriteCloser, opts Options) (*Client, error) {
	h := notifyHandler{fn: opts.OnNotify}
	c := &Client{rpc: jsonrpc2.NewConn(context.Background(), jsonrpc2.NewBufferedStream(rwc, jsonrpc2.VSCodeObjectCodec{}), h, jsonrpc2.SetLogger(quietLogger{}))}
	name := opts.Name
	if name == "" {
		name = "mirrord-go-client"
	}
	info, err := Call(ctx, c, api.Initialize, api.InitializeParams{
		ProcessID:             os.Getpid(),
		ClientInfo:            &api.ClientInfo{Name: name, Version: buildinfo.Version},
		ProtocolVersion:       api.ProtocolVersion,
		InitializationOptions: opts.Init,
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("initializing the daemon connection: %w", err)
	}
	c.Info = info
	return c, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.rpc.Close() }

// Done is closed when the connection ends.
func (c *Client) Done() <-chan struct{} { return c.rpc.DisconnectNotify() }

// Error is an error answered by the daemon.
type Error struct {
	Code    int64
	Message string
	Data    api.ErrorData
}

func (e *Error) Error() string { return e.Message }

// Call sends a typed request.
func Call[P, R any](ctx context.Context, c *Client, m api.Method[P, R], p P) (R, error) {
	var r R
	err := c.rpc.Call(ctx, m.Name, p, &r)
	var je *jsonrpc2.Error
	if errors.As(err, &je) {
		e := &Error{Code: je.Code, Message: je.Message}
		if je.Data != nil {
			_ = json.Unmarshal(*je.Data, &e.Data)
		}
		return r, e
	}
	if errors.Is(err, jsonrpc2.ErrClosed) {
		return r, fmt.Errorf("%s: the daemon closed the connection (see 'mirrord daemon status' and its log): %w", m.Name, err)
	}
	return r, err
}

// Notify sends a typed notification.
func Notify[P any](ctx context.Context, c *Client, n api.Notification[P], p P) error {
	return c.rpc.Notify(ctx, n.Name, p)
}

// CallRaw sends any request (the LSP document methods).
func (c *Client) CallRaw(ctx context.Context, method string, params, result any) error {
	return c.rpc.Call(ctx, method, params, result)
}

// NotifyRaw sends any notification.
func (c *Client) NotifyRaw(ctx context.Context, method string, params any) error {
	return c.rpc.Notify(ctx, method, params)
}

type notifyHandler struct {
	fn func(string, json.RawMessage)
}

func (h notifyHandler) Handle(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	if !req.Notif {
		_ = conn.ReplyWithError(ctx, req.ID, &jsonrpc2.Error{Code: jsonrpc2.CodeMethodNotFound, Message: "this client serves no methods"})
		return
	}
	if h.fn != nil {
		var raw json.RawMessage
		if req.Params != nil {
			raw = *req.Params
		}
		h.fn(req.Method, raw)
	}
}

type quietLogger struct{}

func (quietLogger) Printf(format string, v ...any) {
	slog.Debug(fmt.Sprintf(format, v...), "source", "jsonrpc2")
}

// SocketPath is the socket this build's daemon listens on.
func SocketPath(opts Options) (string, error) {
	if opts.Socket != "" {
		return opts.Socket, nil
	}
	return rundir.Socket()
}

// DialRaw connects to the daemon socket, starting the daemon when asked.
func DialRaw(ctx context.Context, opts Options) (net.Conn, error) {
	sock, err := SocketPath(opts)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", sock)
	if err == nil {
		return nc, nil
	}
	if !opts.AutoStart {
		return nil, fmt.Errorf("%w on %s", ErrNotRunning, sock)
	}
	return start(ctx, sock, opts)
}

// start takes the lock, then dials again (another client may have
// started the daemon meanwhile), removes a stale socket and spawns the
// daemon, retrying the dial with bounded backoff.
func start(ctx context.Context, sock string, opts Options) (net.Conn, error) {
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	unlock, err := lock(ctx, sock+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	var d net.Dialer
	if nc, err := d.DialContext(ctx, "unix", sock); err == nil {
		return nc, nil
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the stale daemon socket %s: %w", sock, err)
	}
	exe := opts.Exe
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding the mirrord binary to start the daemon: %w", err)
		}
	}
	args := append([]string{"daemon", "serve", "--socket", sock}, opts.ServeArgs...)
	cmd := exec.Command(exe, args...)
	// Its own session: the daemon outlives the client and the terminal
	// that started it, and no terminal signal reaches it. Stdio stays
	// /dev/null; it logs to its file.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the daemon (%s daemon serve): %w", exe, err)
	}
	exited := make(chan error, 1)
	// This goroutine reaps the daemon when it exits while this client
	// still runs; it ends with the daemon.
	go func() { exited <- cmd.Wait() }()
	slog.Debug("started the daemon", "pid", cmd.Process.Pid, "socket", sock)
	delay := 5 * time.Millisecond
	for {
		nc, err := d.DialContext(ctx, "unix", sock)
		if err == nil {
			return nc, nil
		}
		select {
		case werr := <-exited:
			return nil, fmt.Errorf("the daemon (%s daemon serve) exited at start (%v): see its log under ~/.local/state/mirrord", exe, werr)
		case <-ctx.Done():
			return nil, fmt.Errorf("the daemon did not answer on %s within %s (it may still be starting; see its log under ~/.local/state/mirrord): %w", sock, timeout, err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// lock takes an exclusive flock on path, polling so that ctx bounds the
// wait.
func lock(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the daemon start lock %s: %w", path, err)
	}
	delay := 5 * time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another client to start the daemon (lock %s): %w", path, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

// IsNotRunning reports whether err means no daemon answered.
func IsNotRunning(err error) bool {
	return errors.Is(err, ErrNotRunning) || strings.Contains(fmt.Sprint(err), ErrNotRunning.Error())
}
