package notify

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompData lays out struct seccomp_data for x/net/bpf's VM, which loads
// 32-bit words big-endian: each word is written in that order, so the VM
// sees the values the kernel would.
func seccompData(arch uint32, nr int, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], uint32(nr))
	binary.BigEndian.PutUint32(b[4:], arch)
	for i, a := range args {
		binary.BigEndian.PutUint32(b[16+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[16+8*i+4:], uint32(a>>32))
	}
	return b
}

func TestBuildSemantics(t *testing.T) {
	const (
		nrAlways = 10
		nrUnless = 11
		nrNonNil = 12
		nrErrno  = 13
		nrOther  = 14
	)
	prog, err := Build([]Rule{
		{Nr: nrAlways, Action: Notify},
		{Nr: nrUnless, Action: NotifyUnlessBit, Arg: 3, Val: unix.AT_EMPTY_PATH},
		{Nr: nrNonNil, Action: NotifyIfNonNull, Arg: 4},
		{Nr: nrErrno, Action: Errno, Val: uint32(unix.ENOSYS)},
	})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]bpf.RawInstruction, len(prog))
	for i, f := range prog {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	arch := nativeArch()
	notif, allow := uint32(unix.SECCOMP_RET_USER_NOTIF), uint32(unix.SECCOMP_RET_ALLOW)
	tests := []struct {
		name string
		data []byte
		want uint32
	}{
		{"always", seccompData(arch, nrAlways), notif},
		{"unless bit: not set", seccompData(arch, nrUnless, 0, 0, 0, 0), notif},
		{"unless bit: set", seccompData(arch, nrUnless, 0, 0, 0, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW), allow},
		{"non-null: NULL", seccompData(arch, nrNonNil, 1, 2, 3, 4, 0), allow},
		{"non-null: low word", seccompData(arch, nrNonNil, 0, 0, 0, 0, 0x7fff0000), notif},
		{"non-null: high word only", seccompData(arch, nrNonNil, 0, 0, 0, 0, 0x7f00000000), notif},
		{"errno", seccompData(arch, nrErrno), unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{"unlisted", seccompData(arch, nrOther), allow},
		{"foreign arch", seccompData(0x40000003, nrAlways), allow},
	}
	for _, tt := range tests {
		got, err := vm.Run(tt.data)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if uint32(got) != tt.want {
			t.Errorf("%s: filter returned %#x, want %#x", tt.name, got, tt.want)
		}
	}
}

func TestBuildRejectsDuplicates(t *testing.T) {
	if _, err := Build([]Rule{{Nr: 1}, {Nr: 1, Action: Errno}}); err == nil {
		t.Fatal("duplicate syscall accepted")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	prog, err := Build([]Rule{{Nr: 1}, {Nr: 2, Action: NotifyIfNonNull, Arg: 4}})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(prog.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(prog) {
		t.Fatalf("%d instructions back, want %d", len(back), len(prog))
	}
	for i := range prog {
		if back[i] != prog[i] {
			t.Fatalf("instruction %d: %+v, want %+v", i, back[i], prog[i])
		}
	}
	if _, err := Unmarshal([]byte{1, 2, 3}); err == nil {
		t.Fatal("truncated program accepted")
	}
}

func TestNotifSize(t *testing.T) {
	n, err := kernelNotifSize()
	if err != nil {
		t.Fatal(err)
	}
	if n < notifSize {
		t.Fatalf("kernel notif size %d < %d", n, notifSize)
	}
}
