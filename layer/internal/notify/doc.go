// Package notify is the thin, raw layer between the supervisor and the
// kernel's seccomp user-notification API: the structs x/sys does not define,
// the RECV/SEND/ID_VALID/ADDFD ioctls, the BPF filter builder and the filter
// install. It knows nothing about mirrord's features; it exists so that the
// few lines that depend on kernel ABI details (struct layouts, ioctl
// numbers, the ADDFD|SEND race) live in one small place that can be read
// against kernel/seccomp.c.
//
// Facts it relies on (measured on 6.18, see shared/prototypes/seccomp):
//   - RECV needs a zeroed buffer at least as large as the kernel's
//     struct seccomp_notif (asked with SECCOMP_GET_NOTIF_SIZES).
//   - Once no task uses the filter, the listener polls POLLHUP and RECV
//     fails at once, so the loop must poll before RECV.
//   - ADDFD with SECCOMP_ADDFD_FLAG_SEND marks the notification replied
//     before it waits, interruptibly, for the target to install the fd. A
//     signal on the calling thread at that moment makes the target's call
//     return 0. Injector threads therefore block every signal (see
//     LockThreadForInject).
package notify
