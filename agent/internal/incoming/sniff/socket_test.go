//go:build linux

package sniff

import (
	"fmt"
	"io"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/internal/testns"
)

// TestFilterPrograms: every size of port list assembles and the kernel
// accepts it (its verifier rejects bad jumps the assembler let through).
func TestFilterPrograms(t *testing.T) {
	ns := netnsOf(testns.New(t))
	f, err := openSocket(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 2, maxFilterPorts, maxFilterPorts + 1, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ports := make([]uint16, n)
			for i := range ports {
				ports[i] = uint16(1000 + i)
			}
			var aerr error
			if err := raw.Control(func(fd uintptr) { aerr = attachFilter(int(fd), ports) }); err != nil {
				t.Fatal(err)
			}
			if aerr != nil {
				t.Fatal(aerr)
			}
		})
	}
	var terr error
	if err := raw.Control(func(fd uintptr) {
		_, terr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	}); err != nil || terr != nil {
		t.Fatal(err, terr)
	}
}

// TestManyPorts: past maxFilterPorts the filter passes all TCP and Go
// alone selects the watched ports.
func TestManyPorts(t *testing.T) {
	ns := netnsOf(testns.New(t))
	watched, other := listen(t, ns, "127.0.0.1:0"), listen(t, ns, "127.0.0.1:0")
	gotW, gotO := sink(t, watched), sink(t, other)
	f := newFixture(t, ns, nil)
	f.s.Watch(port(watched))
	for p := range uint16(maxFilterPorts + 5) {
		if q := 20000 + p; q != port(other) {
			f.s.Watch(q)
		}
	}
	for _, x := range []struct {
		addr string
		got  <-chan received
	}{{other.Addr().String(), gotO}, {watched.Addr().String(), gotW}} {
		c := dial(t, ns, x.addr)
		_, _ = io.WriteString(c, "to "+x.addr)
		c.Close()
		<-x.got
	}
	cp := f.waitCaptures(1)[0]
	if b := cp.wait(t); string(b) != "to "+watched.Addr().String() {
		t.Errorf("copy %q", b)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(f.captures()); n != 1 {
		t.Errorf("%d copies, want 1: %v", n, f.captures())
	}
	if f.s.stats.packets.Load() == 0 {
		t.Error("no packet reached Go")
	}
}
