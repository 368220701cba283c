package notify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ProbeNr is a syscall number no kernel defines. The supervisor answers it
// with ProbeAnswer, so a process can ask "am I already supervised?" with
// one syscall (an unsupervised process gets ENOSYS).
const (
	ProbeNr     = 1000
	ProbeAnswer = 0x5ec
	// ProbeSupervisorPid as the first argument asks for the supervisor's
	// pid instead.
	ProbeSupervisorPid = 1
)

// Action is what the filter does with a matching syscall.
type Action int

const (
	// Notify sends the call to the supervisor.
	Notify Action = iota
	// NotifyUnlessBit notifies unless Arg has all bits of Val set (to let
	// newfstatat(fd, "", AT_EMPTY_PATH), i.e. fstat, through).
	NotifyUnlessBit
	// NotifyIfNonNull notifies only when the 64-bit Arg is not NULL
	// (sendto/recvfrom with an address).
	NotifyIfNonNull
	// Errno makes the call fail with Val without a round trip.
	Errno
)

// Rule is one syscall the filter acts on. Syscalls without a rule are
// allowed.
type Rule struct {
	Nr     int
	Action Action
	Arg    int
	Val    uint32
}

// Program is a built BPF program, ready to install or to send to a
// process that installs it.
type Program []unix.SockFilter

func argLo(i int) uint32 { return uint32(16 + 8*i) }
func argHi(i int) uint32 { return uint32(16 + 8*i + 4) }

// Build assembles the filter: calls from a foreign ABI are allowed (see
// the arch files), each rule becomes a compare-and-act block, everything
// else is allowed. Duplicate syscall numbers are an error because only the
// first block would ever run.
func Build(rules []Rule) (Program, error) {
	ins := archPrologue()
	seen := map[int]bool{}
	for _, r := range rules {
		if seen[r.Nr] {
			return nil, fmt.Errorf("seccomp filter: syscall %d has two rules", r.Nr)
		}
		seen[r.Nr] = true
		var body []bpf.Instruction
		switch r.Action {
		case Notify:
			body = []bpf.Instruction{bpf.RetConstant{Val: unix.SECCOMP_RET_USER_NOTIF}}
		case NotifyUnlessBit:
			body = []bpf.Instruction{
				bpf.LoadAbsolute{Off: argLo(r.Arg), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: r.Val, SkipTrue: 1},
				bpf.RetConstant{Val: unix.SECCOMP_RET_USER_NOTIF},
				bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
			}
		case NotifyIfNonNull:
			body = []bpf.Instruction{
				bpf.LoadAbsolute{Off: argLo(r.Arg), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 3},
				bpf.LoadAbsolute{Off: argHi(r.Arg), Size: 4},
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0, SkipTrue: 1},
				bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
				bpf.RetConstant{Val: unix.SECCOMP_RET_USER_NOTIF},
			}
		case Errno:
			body = []bpf.Instruction{bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | (r.Val & unix.SECCOMP_RET_DATA)}}
		default:
			return nil, fmt.Errorf("seccomp filter: unknown action %d", r.Action)
		}
		ins = append(ins, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(r.Nr), SkipFalse: uint8(len(body))})
		ins = append(ins, body...)
	}
	ins = append(ins, bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW})
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, fmt.Errorf("assembling the seccomp filter: %w", err)
	}
	if len(raw) > 4096 {
		return nil, fmt.Errorf("seccomp filter has %d instructions, the kernel allows 4096", len(raw))
	}
	out := make(Program, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// Marshal encodes the program for a socket: 8 bytes per instruction in
// native byte order, the layout of struct sock_filter.
func (p Program) Marshal() []byte {
	b := make([]byte, 0, 8*len(p))
	for _, f := range p {
		b = binary.NativeEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.NativeEndian.AppendUint32(b, f.K)
	}
	return b
}

// Unmarshal is the inverse of Marshal.
func Unmarshal(b []byte) (Program, error) {
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp program of %d bytes is not a list of 8-byte instructions", len(b))
	}
	p := make(Program, len(b)/8)
	for i := range p {
		c := b[8*i:]
		p[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(c), Jt: c[2], Jf: c[3], K: binary.NativeEndian.Uint32(c[4:])}
	}
	return p, nil
}

// Install flags.
const (
	// FlagWaitKillable makes a trapped call that the supervisor has
	// received wait for the answer even when a non-fatal signal arrives
	// (5.19+). Without it a signal aborts the call and the kernel restarts
	// it as a new notification, which livelocks under periodic signals and
	// can lose an accepted connection.
	FlagWaitKillable = unix.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
)

// ErrBusy is returned by Install when the thread already has a filter
// with a listener: the kernel allows only one per filter chain.
var ErrBusy = errors.New("this process is already under a seccomp user-notification supervisor")

// Install sets no_new_privs and installs p on the calling thread with a
// new listener, returning the listener fd. The caller must be locked to
// its OS thread and must not make a trapped syscall until someone serves
// the listener. extraFlags is tried first and dropped on EINVAL, for older
// kernels; the flags actually used are returned.
func Install(p Program, extraFlags uintptr) (fd int, flags uintptr, err error) {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, 0, fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fp := unix.SockFprog{Len: uint16(len(p)), Filter: &p[0]}
	flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER | extraFlags
	for {
		r, err := seccomp(unix.SECCOMP_SET_MODE_FILTER, flags, unsafe.Pointer(&fp))
		switch {
		case err == nil:
			return int(r), flags, nil
		case err == unix.EINVAL && flags != unix.SECCOMP_FILTER_FLAG_NEW_LISTENER:
			flags = unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
		case err == unix.EBUSY:
			return -1, 0, ErrBusy
		default:
			return -1, 0, fmt.Errorf("seccomp(SET_MODE_FILTER, NEW_LISTENER): %w", err)
		}
	}
}

// Supervised asks, with the probe syscall, whether the calling process is
// already served by a mirrord supervisor.
func Supervised() bool {
	r, _, e := unix.RawSyscall(ProbeNr, 0, 0, 0)
	return e == 0 && r == ProbeAnswer
}
