package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/hashicorp/yamux"
)

// Stream is a yamux stream as a net.Conn with TCP's half-close: CloseWrite
// sends FIN and keeps reading, which is what yamux's Close does. Pipe and
// relays rely on it to pass a half-close through.
type Stream struct{ *yamux.Stream }

// CloseWrite half-closes the stream.
func (s Stream) CloseWrite() error { return s.Stream.Close() }

type closeWriter interface{ CloseWrite() error }

// Pipe copies between a and b in both directions until both directions
// end, passing a half-close from one side to the other, then closes both.
// It returns the first copy error that is not a plain close.
func Pipe(a, b net.Conn) error {
	errc := make(chan error, 2)
	cp := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if cw, ok := dst.(closeWriter); ok {
			_ = cw.CloseWrite()
		} else {
			_ = dst.Close()
		}
		errc <- err
	}
	go cp(a, b)
	go cp(b, a)
	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil && !isClosed(err) {
			first = err
			// One side failed: unblock the other copy.
			a.Close()
			b.Close()
		}
	}
	a.Close()
	b.Close()
	return first
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, yamux.ErrStreamClosed) || errors.Is(err, yamux.ErrSessionShutdown)
}

// openStream opens a stream on either end: it sends the header and waits
// (bounded by ctx) for the peer's reply. A refusal is returned as the
// reply's *Error.
func openStream(ctx context.Context, sess *yamux.Session, h StreamHeader) (net.Conn, StreamReply, error) {
	var r StreamReply
	st, err := sess.OpenStream()
	if err != nil {
		return nil, r, fmt.Errorf("opening a %s stream: %w", h.Kind, err)
	}
	err = withDeadline(ctx, st, func() error {
		if err := WriteFrame(st, h); err != nil {
			return err
		}
		return ReadFrame(st, &r)
	})
	if err == nil && r.Err != nil {
		err = r.Err
	}
	if err != nil {
		st.Close()
		return nil, r, err
	}
	return Stream{st}, r, nil
}
