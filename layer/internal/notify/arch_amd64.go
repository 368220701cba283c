package notify

import (
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// archPrologue loads the syscall number, allowing calls from other ABIs:
// i386 (int 0x80) is not filtered, and x32 (bit 30 set) fails with ENOSYS
// so it cannot be used to bypass the filter.
func archPrologue() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AUDIT_ARCH_X86_64, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
		bpf.LoadAbsolute{Off: 0, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x40000000, SkipFalse: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
	}
}
