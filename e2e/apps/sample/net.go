package sample

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
)

// TCPEcho echoes every connection on ln until ctx is done, then closes ln
// and the open connections and waits for their goroutines.
func TCPEcho(ctx context.Context, ln net.Listener, log *slog.Logger) error {
	log.Info("listening", "addr", ln.Addr().String(), "proto", "tcp")
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	defer stop()
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tcp-echo: accept: %w", err)
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			c.Close()
			return nil
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("connection", "remote", c.RemoteAddr().String())
			n, err := io.Copy(c, c)
			c.Close()
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			log.Info("closed", "remote", c.RemoteAddr().String(), "bytes", n, "err", errString(err))
		}()
	}
}

// UDPLogger logs every datagram received on pc until ctx is done.
func UDPLogger(ctx context.Context, pc net.PacketConn, log *slog.Logger) error {
	log.Info("listening", "addr", pc.LocalAddr().String(), "proto", "udp")
	stop := context.AfterFunc(ctx, func() { pc.Close() })
	defer stop()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("udp-logger: read: %w", err)
		}
		log.Info("datagram", "from", from.String(), "bytes", n, "data", string(buf[:n]))
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
