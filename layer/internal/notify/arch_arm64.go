package notify

import (
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// archPrologue loads the syscall number; calls from the 32-bit arm ABI are
// allowed unfiltered.
func archPrologue() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.AUDIT_ARCH_AARCH64, SkipTrue: 1},
		bpf.RetConstant{Val: unix.SECCOMP_RET_ALLOW},
		bpf.LoadAbsolute{Off: 0, Size: 4},
	}
}
