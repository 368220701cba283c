// Package layer puts a local program in the target pod's context: it
// reads the pod's files, resolves names with the pod's DNS, connects from
// the pod and sees the pod's hostname, with no change to the program.
//
// Upstream mirrord does this by hooking libc inside the process, which
// misses static binaries and Go programs and breeds deadlocks in hooks.
// This layer works at the syscall boundary instead: a seccomp filter sends
// the few syscalls the enabled features need to a supervisor outside the
// process (in mirrord itself), which lets the kernel run them, fails them,
// or emulates them with the agent's help. Data then flows through real
// kernel fds (sockets to loopback relays, memfds), so read and write are
// never trapped. See shared/ARCHITECTURE.md, "Data plane".
//
// Launch model (a), Exec: mirrord re-executes itself as a small
// trampoline (TrampolineMain, selected by the hidden TrampolineMarker
// argument) that installs the filter, hands the listener fd back over an
// inherited socket pair and execve()s the program. The filter survives
// execve, fork and clone, so static binaries and every child are covered.
//
// Requirements: Linux 5.14 or newer (CheckKernel explains a refusal);
// 5.19 or newer so that signals never abort an emulated call.
package layer
