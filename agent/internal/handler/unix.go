//go:build linux

package handler

import (
	"context"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// serveUnix connects to a unix stream socket of the target and relays
// bytes until both directions end. A path is looked up in the target's
// filesystem (through /proc/<pid>/root); an abstract name ("@name") lives
// in the target's network namespace.
func (a *Agent) serveUnix(ctx context.Context, addr string, st *protocol.ClientStream) {
	conn, err := a.dialUnix(ctx, addr)
	if err != nil {
		a.Log.Debug("outgoing unix stream refused", "addr", addr, "err", err)
		st.Refuse(err)
		return
	}
	if err := st.Accept(addr, addr); err != nil {
		conn.Close()
		st.Close()
		return
	}
	a.Log.Debug("outgoing unix stream", "addr", addr)
	if err := protocol.Pipe(st.Conn, conn); err != nil {
		a.Log.Debug("outgoing unix stream ended", "addr", addr, "err", err)
	}
}

func (a *Agent) dialUnix(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	if strings.HasPrefix(addr, "@") {
		var conn net.Conn
		err := a.Net.Do(func() error {
			var err error
			conn, err = d.DialContext(ctx, "unix", addr)
			return err
		})
		return conn, err
	}
	if !path.IsAbs(addr) {
		return nil, protocol.Errorf(protocol.CodeInvalid, "unix socket path %q is not absolute", addr)
	}
	p := a.Root + path.Clean(addr)
	if len(p) < len(unix.RawSockaddrUnix{}.Path) {
		return d.DialContext(ctx, "unix", p)
	}
	// Too long for sun_path with the /proc/<pid>/root prefix: connect
	// through an O_PATH fd of the socket file instead.
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening unix socket %s of the target: %w", addr, err)
	}
	defer unix.Close(fd)
	return d.DialContext(ctx, "unix", "/proc/self/fd/"+strconv.Itoa(fd))
}
