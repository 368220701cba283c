package e2eenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/e2e/cluster"
)

// LaptopDial dials addr (an IP address, not a name) from inside the laptop
// netns, as a program on a developer's machine would. The returned
// connection keeps working from any goroutine: a socket stays in the
// namespace it was created in.
func (e *Env) LaptopDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := InNetns(filepath.Join("/run/netns", cluster.LaptopNetns), func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// InNetns runs fn on an OS thread switched into the network namespace at
// path. The socket syscalls of fn happen on that thread.
func InNetns(path string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: %w", err)
	}
	defer orig.Close()
	target, err := os.Open(path)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: %w", err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns: enter %s: %w", path, err)
	}
	ferr := fn()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// Leave the thread locked: the runtime discards it when this goroutine ends.
		return fmt.Errorf("netns: return to the host namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}
