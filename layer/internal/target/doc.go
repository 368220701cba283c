// Package target reads and writes the memory and fds of a process that
// made a trapped syscall. It exists to keep one rule in one place: the
// process is identified only by a thread id that the kernel may hand to a
// new process at any moment, so every read is followed by a check that the
// notification is still pending (ID_VALID), and writes go through
// /proc/<tid>/mem opened and then validated, which pins the right address
// space.
package target
