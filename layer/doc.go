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
// Launch model (b), Listen and Serve (`mirrord runner`): programs that an
// IDE or a shell starts get LD_PRELOAD with the bootstrap (package
// bootstrap, a libc-free C object embedded in mirrord) and the session's
// socket. Its constructor connects to the Server before installing the
// filter the Server sends, then hands the listener over with SCM_RIGHTS.
// Each joining process tree gets its own supervisor; a child that loads
// the bootstrap again finds, with the probe syscall, that it is supervised
// already. A static binary started directly ignores LD_PRELOAD (its
// children through a dynamic parent are covered).
//
// skip_processes (SkipNames) is decided per program image: the supervisor
// answers CONTINUE for every call of a process whose executable or argv[0]
// matches, and decides again at each execve, as upstream loads its layer
// per image.
//
// Requirements: Linux 5.14 or newer (CheckKernel explains a refusal);
// 5.19 or newer so that signals never abort an emulated call.
package layer
