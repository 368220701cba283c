//go:build linux

// Package nsenter runs code inside another process's namespaces. The agent
// must create its sockets in the target pod's network namespace (so
// connections leave from the pod's address, through its routes and DNS)
// and read the pod's hostname from its UTS namespace, while the agent
// itself lives in its own pod.
//
// A namespace belongs to an OS thread, not to a goroutine, so each call
// runs on a fresh goroutine that locks its thread, calls setns and never
// unlocks it: when the goroutine ends, the Go runtime throws the thread
// away instead of handing a thread in the wrong namespace to other code.
// A socket keeps the namespace it was created in, so the connections these
// calls return are then used from any goroutine.
package nsenter

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Kinds of namespace this package enters.
const (
	Net = "net"
	UTS = "uts"
)

var cloneFlags = map[string]int{Net: unix.CLONE_NEWNET, UTS: unix.CLONE_NEWUTS}

// Namespace is a namespace of a process, or the agent's own when Path is
// empty (ephemeral and targetless agents already live in the pod's).
type Namespace struct {
	// Path is /proc/<pid>/ns/<kind>, or empty for the current namespace.
	Path string
	kind string
}

// Of returns the namespace of kind (Net or UTS) of pid; pid 0 means the
// agent's own.
func Of(pid int, kind string) Namespace {
	if pid == 0 {
		return Namespace{kind: kind}
	}
	return Namespace{Path: fmt.Sprintf("/proc/%d/ns/%s", pid, kind), kind: kind}
}

// FromPath returns the namespace bound at path (a /proc/<pid>/ns/<kind>
// link or a bind mount such as /run/netns/<name>).
func FromPath(path, kind string) Namespace { return Namespace{Path: path, kind: kind} }

// Own reports whether ns is the agent's own namespace (no setns needed).
func (ns Namespace) Own() bool { return ns.Path == "" }

// Do runs f inside ns and returns its error. f must not start goroutines
// that depend on the namespace: they run on other threads.
func (ns Namespace) Do(f func() error) error {
	if ns.Own() {
		return f()
	}
	flag, ok := cloneFlags[ns.kind]
	if !ok {
		return fmt.Errorf("nsenter: unknown namespace kind %q", ns.kind)
	}
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		fd, err := unix.Open(ns.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("opening %s namespace %s: %w", ns.kind, ns.Path, err)
			return
		}
		err = unix.Setns(fd, flag)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("entering %s namespace %s (the agent needs CAP_SYS_ADMIN): %w", ns.kind, ns.Path, os.NewSyscallError("setns", err))
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Dialer creates sockets in a network namespace.
type Dialer struct {
	NS Namespace
	// Timeout and Control are net.Dialer's (zero: none).
	Timeout time.Duration
	Control func(network, address string, c syscall.RawConn) error
}

// Dial connects to addr, an ip:port with a literal IP, from the namespace.
// Host names are refused: resolving them would run on other threads, in
// the agent's namespace, with the agent's resolv.conf.
func (d Dialer) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", network, addr, err)
	}
	if net.ParseIP(host) == nil {
		return nil, fmt.Errorf("dial %s %s: only literal IP addresses can be dialed in the target namespace", network, addr)
	}
	var conn net.Conn
	err = d.NS.Do(func() error {
		// No happy-eyeballs racing: its goroutines would create sockets on
		// other threads, outside the namespace.
		nd := net.Dialer{FallbackDelay: -1, Timeout: d.Timeout, Control: d.Control}
		var err error
		conn, err = nd.DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Interfaces lists the addresses of the namespace's interfaces, as
// net.InterfaceAddrs does (the netlink socket it uses is created in ns).
func Interfaces(ns Namespace) ([]net.Addr, error) {
	var addrs []net.Addr
	err := ns.Do(func() error {
		var err error
		addrs, err = net.InterfaceAddrs()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing interface addresses: %w", err)
	}
	return addrs, nil
}

// Hostname returns the hostname of a UTS namespace.
func Hostname(ns Namespace) (string, error) {
	var name string
	err := ns.Do(func() error {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return os.NewSyscallError("uname", err)
		}
		name = unix.ByteSliceToString(u.Nodename[:])
		return nil
	})
	return name, err
}
