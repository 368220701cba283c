package supervisor

import "golang.org/x/sys/unix"

// x86_64 still has the path syscalls that predate the *at forms; glibc
// rarely uses them, static binaries and old runtimes do.

func registerLegacyOpen(s *Supervisor) {
	s.on("open", notifyAlways(unix.SYS_OPEN), func(c *call) {
		s.handleOpen(c, unix.AT_FDCWD, c.arg(0), c.arg(1), uint32(c.arg(2)))
	})
	s.on("creat", notifyAlways(unix.SYS_CREAT), func(c *call) {
		s.handleOpen(c, unix.AT_FDCWD, c.arg(0), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, uint32(c.arg(1)))
	})
}

func registerLegacyMeta(s *Supervisor) {
	s.on("stat", notifyAlways(unix.SYS_STAT), func(c *call) {
		s.handleStat(c, unix.AT_FDCWD, c.arg(0), c.arg(1), false, false)
	})
	s.on("lstat", notifyAlways(unix.SYS_LSTAT), func(c *call) {
		s.handleStat(c, unix.AT_FDCWD, c.arg(0), c.arg(1), true, false)
	})
	s.on("access", notifyAlways(unix.SYS_ACCESS), func(c *call) {
		s.handleAccess(c, unix.AT_FDCWD, c.arg(0), uint32(c.arg(1)))
	})
	s.on("readlink", notifyAlways(unix.SYS_READLINK), func(c *call) {
		s.handleReadlink(c, unix.AT_FDCWD, c.arg(0), c.arg(1), c.arg(2))
	})
}
