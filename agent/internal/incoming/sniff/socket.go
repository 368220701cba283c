//go:build linux

package sniff

import (
	"fmt"
	"os"
	"slices"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/internal/nsenter"
)

const (
	// snapLen is the most bytes kept of one packet. Loopback and veth hand
	// the tap unsegmented GSO packets of up to 64 KiB (more with BIG TCP),
	// and a cut packet is a loss for its connection.
	snapLen = 256 << 10
	// recvBuffer is the socket's receive buffer (the kernel doubles it
	// and counts each packet's whole allocation, about twice its bytes on
	// lo): it absorbs bursts while the capture loop waits for a CPU. Past
	// it the kernel drops packets for this socket only; the original
	// connection never waits for us. 8 MiB lost most of a 16 MiB lo burst
	// on two busy cores; 32 MiB lost none. The memory is used only while
	// the loop lags.
	recvBuffer = 32 << 20
	// maxFilterPorts bounds the port list compiled into the filter (a
	// classic BPF jump reaches at most 255 instructions). With more ports
	// watched the filter passes all TCP and Go selects the ports.
	maxFilterPorts = 64
	// loopbackIfindex is the index of every network namespace's lo
	// (LOOPBACK_IFINDEX in the kernel).
	loopbackIfindex = 1
)

// openSocket creates the packet socket in ns. It is bound to every
// interface of ns, the loopback included, and starts with a filter that
// drops everything, so that no packet is queued before Watch asks for one.
func openSocket(ns nsenter.Namespace) (*os.File, error) {
	fd := -1
	err := ns.Do(func() error {
		// Protocol 0: the socket receives nothing until bind, so nothing
		// slips in before the filter is attached.
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("creating a packet socket (the agent needs CAP_NET_RAW): %w", os.NewSyscallError("socket", err))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		unix.Close(fd)
		return nil, err
	}
	if err := attachFilter(fd, nil); err != nil {
		return fail(err)
	}
	// FORCE needs CAP_NET_ADMIN, which the agent has; the plain option is
	// capped by net.core.rmem_max but better than the default.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recvBuffer); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, recvBuffer)
	}
	// The bind address's namespace is the socket's, whatever thread runs it.
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}); err != nil {
		return fail(fmt.Errorf("binding the packet socket to all interfaces: %w", os.NewSyscallError("bind", err)))
	}
	// Non-blocking, so the file joins the runtime poller: reads park the
	// goroutine, honour deadlines and end when the file is closed.
	return os.NewFile(uintptr(fd), "packet socket"), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// attachFilter replaces the socket's filter with one for ports. The kernel
// swaps filters atomically, so no packet sees a half-built one.
func attachFilter(fd int, ports []uint16) error {
	prog, err := filterProgram(ports)
	if err != nil {
		return fmt.Errorf("building the packet filter: %w", err)
	}
	ins := make([]unix.SockFilter, len(prog))
	for i, r := range prog {
		ins[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(ins)), Filter: &ins[0]}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("attaching the packet filter: %w", os.NewSyscallError("setsockopt", err))
	}
	return nil
}

// filterProgram returns the classic BPF program the kernel runs on every
// packet before copying it to us. It keeps TCP over IPv4 and IPv6 to or
// from one of ports (any port when there are more than maxFilterPorts),
// and drops the outgoing copy of loopback packets: lo shows each packet
// twice, once sent and once received, and the received copy is enough.
// With no ports it drops everything. A SOCK_DGRAM socket's program sees
// the packet from its network header on.
func filterProgram(ports []uint16) ([]bpf.RawInstruction, error) {
	if len(ports) == 0 {
		return bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	}
	ports = slices.Clone(ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if len(ports) > maxFilterPorts {
		ports = nil
	}
	var a asm
	a.op(bpf.LoadExtension{Num: bpf.ExtType})
	a.jump(bpf.JumpEqual, unix.PACKET_OUTGOING, "", "proto")
	a.op(bpf.LoadExtension{Num: bpf.ExtInterfaceIndex})
	a.jump(bpf.JumpEqual, loopbackIfindex, "drop", "proto")

	a.label("proto")
	a.op(bpf.LoadExtension{Num: bpf.ExtProto})
	a.jump(bpf.JumpEqual, unix.ETH_P_IP, "v4", "")
	a.jump(bpf.JumpEqual, unix.ETH_P_IPV6, "v6", "drop")

	a.label("v4")
	a.op(bpf.LoadAbsolute{Off: 9, Size: 1}) // protocol
	a.jump(bpf.JumpEqual, unix.IPPROTO_TCP, "", "drop")
	a.op(bpf.LoadAbsolute{Off: 6, Size: 2})     // flags and fragment offset
	a.jump(bpf.JumpBitsSet, 0x1fff, "drop", "") // a later fragment has no TCP header
	a.op(bpf.LoadMemShift{Off: 0})              // X = header length
	a.ja("ports")
	a.label("v6")
	a.op(bpf.LoadAbsolute{Off: 6, Size: 1}) // next header
	a.jump(bpf.JumpEqual, unix.IPPROTO_TCP, "v6tcp", "")
	// A hop-by-hop header (BIG TCP's jumbo option) may sit before TCP:
	// Go parses it. Other extension headers are not seen on TCP.
	a.jump(bpf.JumpEqual, unix.IPPROTO_HOPOPTS, "accept", "drop")
	a.label("v6tcp")
	a.op(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})

	a.label("ports")
	if ports == nil {
		a.ja("accept")
	} else {
		for _, off := range []uint32{2, 0} { // destination, then source port
			a.op(bpf.LoadIndirect{Off: off, Size: 2})
			for _, p := range ports {
				a.jump(bpf.JumpEqual, uint32(p), "accept", "")
			}
		}
	}
	a.label("drop")
	a.op(bpf.RetConstant{Val: 0})
	a.label("accept")
	a.op(bpf.RetConstant{Val: snapLen})
	return a.assemble()
}

// asm is a tiny classic BPF assembler with labels, since hand-counted
// jump offsets break as soon as the port list changes length.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	jumps  []jumpRef
}

type jumpRef struct {
	at              int
	onTrue, onFalse string // label, or "" for the next instruction
	always          bool   // bpf.Jump to onTrue
}

func (a *asm) op(i bpf.Instruction) { a.ins = append(a.ins, i) }

func (a *asm) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	a.labels[name] = len(a.ins)
}

func (a *asm) jump(cond bpf.JumpTest, val uint32, t, f string) {
	a.jumps = append(a.jumps, jumpRef{at: len(a.ins), onTrue: t, onFalse: f})
	a.op(bpf.JumpIf{Cond: cond, Val: val})
}

func (a *asm) ja(to string) {
	a.jumps = append(a.jumps, jumpRef{at: len(a.ins), onTrue: to, always: true})
	a.op(bpf.Jump{})
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	for _, j := range a.jumps {
		skip := func(l string) (uint8, error) {
			if l == "" {
				return 0, nil
			}
			to, ok := a.labels[l]
			if !ok {
				return 0, fmt.Errorf("unknown label %q", l)
			}
			d := to - j.at - 1
			if d < 0 || d > 255 {
				return 0, fmt.Errorf("jump from %d to %q (%d) out of range", j.at, l, to)
			}
			return uint8(d), nil
		}
		t, err := skip(j.onTrue)
		if err != nil {
			return nil, err
		}
		if j.always {
			a.ins[j.at] = bpf.Jump{Skip: uint32(t)}
			continue
		}
		f, err := skip(j.onFalse)
		if err != nil {
			return nil, err
		}
		ji := a.ins[j.at].(bpf.JumpIf)
		ji.SkipTrue, ji.SkipFalse = t, f
		a.ins[j.at] = ji
	}
	return bpf.Assemble(a.ins)
}
