// Package supervisor serves the seccomp notifications of a supervised
// process tree: it decides, per trapped syscall, whether the kernel runs
// it (CONTINUE), whether it fails (ENOENT for not_found paths), or whether
// the supervisor emulates it with the target pod's context (the pod's
// hostname, its DNS, its files, connections made from it).
//
// Structure, and why:
//   - One notification loop receives; a table keyed by syscall number
//     picks the handler. Handlers that only read the caller's memory and
//     decide run inline; anything that waits for the agent runs in its own
//     goroutine and answers later, so one slow remote call never stalls
//     the rest of the tree.
//   - fds are injected (ADDFD|SEND) only by injector goroutines locked to
//     threads with every signal blocked: see package notify for the race
//     this prevents.
//   - A connection made "from the pod" keeps the program's own socket: the
//     supervisor takes it with pidfd_getfd and connects it to a loopback
//     relay that pipes to an agent stream, so socket options, O_NONBLOCK
//     and epoll registrations stay the program's.
//   - Every goroutine is owned by Serve: it waits for all of them, and its
//     context closes every relay.
package supervisor
