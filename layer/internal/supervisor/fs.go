package supervisor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/layer/internal/fsroute"
	"github.com/mirrord-go/mirrord/layer/internal/notify"
	"github.com/mirrord-go/mirrord/layer/internal/target"
)

const (
	pathMax = 4096
	// snapshotMax bounds a remote file copied into memory until remote
	// files are served through FUSE.
	snapshotMax = 256 << 20
	readChunk   = 1 << 20
)

// TwinFS is the mounted view of the pod's filesystem (package remotefs):
// every remote path has a twin on it that the supervisor opens with the
// program's flags, so the program gets a real fd.
type TwinFS interface {
	// Twin is the local path of a remote absolute path.
	Twin(remote string) string
	// Remote is the remote path of a path on the mount.
	Remote(local string) (string, bool)
}

func (s *Supervisor) registerOpen() {
	s.on("openat", notifyAlways(unix.SYS_OPENAT), func(c *call) {
		s.handleOpen(c, int32(c.arg(0)), c.arg(1), c.arg(2), uint32(c.arg(3)))
	})
	s.on("openat2", notifyAlways(unix.SYS_OPENAT2), func(c *call) {
		// struct open_how { u64 flags; u64 mode; u64 resolve; }
		how := make([]byte, 16)
		if c.arg(3) < 16 {
			c.cont()
			return
		}
		if err := c.p.Read(c.arg(2), how); err != nil {
			c.cont()
			return
		}
		s.handleOpen(c, int32(c.arg(0)), c.arg(1), binary.NativeEndian.Uint64(how), uint32(binary.NativeEndian.Uint64(how[8:])))
	})
	registerLegacyOpen(s)
}

func (s *Supervisor) registerMeta() {
	s.on("newfstatat", notify.Rule{Nr: unix.SYS_NEWFSTATAT, Action: notify.NotifyUnlessBit, Arg: 3, Val: unix.AT_EMPTY_PATH}, func(c *call) {
		s.handleStat(c, int32(c.arg(0)), c.arg(1), c.arg(2), c.arg(3)&unix.AT_SYMLINK_NOFOLLOW != 0, false)
	})
	s.on("statx", notify.Rule{Nr: unix.SYS_STATX, Action: notify.NotifyUnlessBit, Arg: 2, Val: unix.AT_EMPTY_PATH}, func(c *call) {
		s.handleStat(c, int32(c.arg(0)), c.arg(1), c.arg(4), c.arg(2)&unix.AT_SYMLINK_NOFOLLOW != 0, true)
	})
	s.on("faccessat", notifyAlways(unix.SYS_FACCESSAT), func(c *call) {
		s.handleAccess(c, int32(c.arg(0)), c.arg(1), uint32(c.arg(2)))
	})
	s.on("faccessat2", notifyAlways(unix.SYS_FACCESSAT2), func(c *call) {
		s.handleAccess(c, int32(c.arg(0)), c.arg(1), uint32(c.arg(2)))
	})
	s.on("readlinkat", notifyAlways(unix.SYS_READLINKAT), func(c *call) {
		s.handleReadlink(c, int32(c.arg(0)), c.arg(1), c.arg(2), c.arg(3))
	})
	registerLegacyMeta(s)
}

// route reads the path argument and decides. ok=false means the call was
// already answered (or the caller is gone).
func (s *Supervisor) route(c *call, dirfd int32, pathPtr uint64, acc fsroute.Access) (fsroute.Decision, bool) {
	d, ok := s.routeUnchecked(c, dirfd, pathPtr, acc)
	if !ok {
		return d, false
	}
	// The path was read without re-checking ID_VALID (one ioctl fewer on
	// every trapped open). For a local path that is safe: if the caller
	// died and its tid was reused, the path is a stranger's, but the
	// answer is CONTINUE, which the kernel refuses for a gone caller.
	// Anything else acts on the path, so the check comes now.
	if d.Outcome != fsroute.Local || isSpecial(d.Path) {
		if err := c.valid(); err != nil {
			return d, false
		}
	}
	return d, true
}

func (s *Supervisor) routeUnchecked(c *call, dirfd int32, pathPtr uint64, acc fsroute.Access) (fsroute.Decision, bool) {
	unchecked := c.p
	unchecked.Valid = nil
	p, err := unchecked.ReadString(pathPtr, pathMax)
	if err != nil {
		// Bad pointers and over-long paths: let the kernel give the
		// program its own EFAULT or ENAMETOOLONG.
		if err != target.ErrGone {
			c.cont()
		}
		return fsroute.Decision{}, false
	}
	if p == "" {
		c.cont()
		return fsroute.Decision{}, false
	}
	if path.IsAbs(p) {
		p = path.Clean(p)
		if rp, ok := s.onMount(p); ok {
			// A path the program learnt from one of its remote fds
			// (/proc/self/fd/N): it is the remote file.
			return fsroute.Decision{Outcome: fsroute.Remote, Path: rp, Why: "a path on the remote file system"}, true
		}
		return s.router.Route(p, acc), true
	}
	var base string
	if dirfd == unix.AT_FDCWD {
		base, err = c.p.Cwd()
	} else {
		base, err = c.p.FDPath(int(dirfd))
	}
	if err != nil {
		c.cont()
		return fsroute.Decision{}, false
	}
	if rp, ok := s.onMount(base); ok {
		// Relative to a remote directory fd (or a working directory
		// entered through one): the path is remote too.
		return fsroute.Decision{Outcome: fsroute.Remote, Path: path.Join(rp, p), Why: "relative to a remote directory"}, true
	}
	return s.router.RouteAt(base, false, p, acc), true
}

// onMount maps a path on the remote file system's mount to the remote path.
func (s *Supervisor) onMount(p string) (string, bool) {
	if s.cfg.RemoteFS == nil {
		return "", false
	}
	return s.cfg.RemoteFS.Remote(p)
}

func (s *Supervisor) handleOpen(c *call, dirfd int32, pathPtr, flags uint64, mode uint32) {
	acc := fsroute.Read
	if fsroute.IsWrite(flags) {
		acc = fsroute.Write
	}
	d, ok := s.route(c, dirfd, pathPtr, acc)
	if !ok {
		return
	}
	if s.debug {
		s.log.Debug("open", "path", d.Path, "flags", strconv.FormatUint(flags, 8), "outcome", d.Outcome.String(), "why", d.Why)
	}
	cloexec := flags&unix.O_CLOEXEC != 0
	if acc == fsroute.Read {
		if s.serveSpecial(c, d.Path, cloexec) {
			return
		}
	}
	switch d.Outcome {
	case fsroute.Local:
		c.cont()
	case fsroute.NotFound:
		c.failErrno(unix.ENOENT)
	case fsroute.Remote:
		if s.cfg.RemoteFS != nil {
			c.async(func(ctx context.Context) { s.openTwin(c, d.Path, flags, mode) })
			return
		}
		if acc == fsroute.Write {
			s.warnOnce("remote-write", "writing files on the target is not supported yet; the write fails with EROFS", "path", d.Path, "why", d.Why)
			c.failErrno(unix.EROFS)
			return
		}
		if flags&unix.O_DIRECTORY != 0 {
			s.warnOnce("remote-dir", "listing directories of the target is not supported yet; directories are listed locally", "path", d.Path)
			c.cont()
			return
		}
		c.async(func(ctx context.Context) { s.openRemote(ctx, c, d.Path, cloexec) })
	}
}

// openTwin opens the remote file's twin on the FUSE mount with the
// program's flags and mode, and injects the fd: reads, writes, mmap,
// getdents64 and lseek then work natively. The open itself waits on the
// agent (lookup, open), so it runs off the notification loop.
func (s *Supervisor) openTwin(c *call, p string, flags uint64, mode uint32) {
	cloexec := flags&unix.O_CLOEXEC != 0
	twin := s.cfg.RemoteFS.Twin(p)
	// O_NOCTTY: a remote tty must never become mirrord's terminal.
	fd, err := unix.Open(twin, int(flags)|unix.O_CLOEXEC|unix.O_NOCTTY, mode)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Open(twin, int(flags)|unix.O_CLOEXEC|unix.O_NOCTTY, mode)
	}
	if err != nil {
		if s.debug {
			s.log.Debug("opening a remote file failed", "path", p, "err", err)
		}
		c.fail(err, unix.EIO)
		return
	}
	defer unix.Close(fd)
	c.inject(fd, cloexec)
}

// openRemote copies the remote file into a sealed memfd and injects a
// read-only fd of it. (FUSE, lazy and writable, replaces this later.)
func (s *Supervisor) openRemote(ctx context.Context, c *call, p string, cloexec bool) {
	rctx, cancel := c.remoteCtx(ctx)
	defer cancel()
	var or protocol.OpenResponse
	err := s.remote.Call(rctx, protocol.KindOpen, protocol.OpenRequest{Path: p, Flags: unix.O_RDONLY}, &or)
	if err != nil {
		if unsupported(err) {
			s.warnOnce("fs-unsupported", "the agent does not serve files; files the config routes to the target are read locally", "path", p)
			c.cont()
			return
		}
		c.logRemoteErr("opening "+p+" on the target", err)
		c.fail(err, unix.EIO)
		return
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RemoteTimeout)
		defer ccancel()
		_ = s.remote.Call(cctx, protocol.KindClose, protocol.CloseRequest{Handle: or.Handle}, nil)
	}()
	if or.Stat.Mode&unix.S_IFMT == unix.S_IFDIR {
		s.warnOnce("remote-dir", "listing directories of the target is not supported yet; directories are listed locally", "path", p)
		c.cont()
		return
	}
	if or.Stat.Size > snapshotMax {
		s.log.Warn("remote file too large to copy; it needs FUSE support", "path", p, "size", or.Stat.Size, "limit", snapshotMax)
		c.failErrno(unix.EFBIG)
		return
	}
	var data []byte
	for {
		var rr protocol.ReadResponse
		err := s.remote.Call(rctx, protocol.KindRead, protocol.ReadRequest{Handle: or.Handle, Offset: int64(len(data)), Size: readChunk}, &rr)
		if err != nil {
			c.logRemoteErr("reading "+p+" on the target", err)
			c.fail(err, unix.EIO)
			return
		}
		data = append(data, rr.Data...)
		if rr.EOF || len(rr.Data) == 0 {
			break
		}
		if len(data) > snapshotMax {
			c.failErrno(unix.EFBIG)
			return
		}
	}
	s.injectBytes(c, "mirrord:"+path.Base(p), data, cloexec)
}

// injectBytes answers an open with a read-only fd on a memfd holding data.
func (s *Supervisor) injectBytes(c *call, name string, data []byte, cloexec bool) {
	fd, err := memfdRO(name, data)
	if err != nil {
		s.log.Warn("serving an emulated file failed", "name", name, "err", err)
		c.fail(err, unix.EIO)
		return
	}
	defer unix.Close(fd)
	c.inject(fd, cloexec)
}

// memfdRO returns a read-only fd of a new memfd with data: the program
// gets its own offset, and cannot write to it, as with a read-only open.
func memfdRO(name string, data []byte) (int, error) {
	mfd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("memfd_create: %w", err)
	}
	defer unix.Close(mfd)
	for off := 0; off < len(data); {
		n, err := unix.Pwrite(mfd, data[off:], int64(off))
		if err != nil {
			return -1, fmt.Errorf("filling memfd: %w", err)
		}
		off += n
	}
	_, _ = unix.FcntlInt(uintptr(mfd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL)
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(mfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("reopening memfd read-only: %w", err)
	}
	return fd, nil
}

func (s *Supervisor) handleStat(c *call, dirfd int32, pathPtr, buf uint64, nofollow, statx bool) {
	d, ok := s.route(c, dirfd, pathPtr, fsroute.Read)
	if !ok {
		return
	}
	switch d.Outcome {
	case fsroute.Local:
		c.cont()
	case fsroute.NotFound:
		c.failErrno(unix.ENOENT)
	case fsroute.Remote:
		if s.isSpecial(d.Path) {
			c.cont()
			return
		}
		c.async(func(ctx context.Context) {
			rctx, cancel := c.remoteCtx(ctx)
			defer cancel()
			var st protocol.FileStat
			err := s.remote.Call(rctx, protocol.KindStat, protocol.StatRequest{Path: d.Path, NoFollow: nofollow}, &st)
			if err != nil {
				if unsupported(err) {
					s.warnOnce("fs-unsupported", "the agent does not serve files; files the config routes to the target are read locally", "path", d.Path)
					c.cont()
					return
				}
				c.logRemoteErr("stat of "+d.Path+" on the target", err)
				c.fail(err, unix.EIO)
				return
			}
			b := target.Stat(st)
			if statx {
				b = target.Statx(st)
			}
			if err := c.p.Write(buf, b); err != nil {
				c.fail(err, unix.EFAULT)
				return
			}
			c.ret(0)
		})
	}
}

func (s *Supervisor) handleAccess(c *call, dirfd int32, pathPtr uint64, mode uint32) {
	acc := fsroute.Read
	if mode&unix.W_OK != 0 {
		acc = fsroute.Write
	}
	d, ok := s.route(c, dirfd, pathPtr, acc)
	if !ok {
		return
	}
	switch d.Outcome {
	case fsroute.Local:
		c.cont()
	case fsroute.NotFound:
		c.failErrno(unix.ENOENT)
	case fsroute.Remote:
		if s.isSpecial(d.Path) {
			c.cont()
			return
		}
		c.async(func(ctx context.Context) {
			rctx, cancel := c.remoteCtx(ctx)
			defer cancel()
			err := s.remote.Call(rctx, protocol.KindAccess, protocol.AccessRequest{Path: d.Path, Mode: mode}, nil)
			switch {
			case err == nil:
				c.ret(0)
			case unsupported(err):
				c.cont()
			default:
				c.fail(err, unix.EACCES)
			}
		})
	}
}

func (s *Supervisor) handleReadlink(c *call, dirfd int32, pathPtr, buf, size uint64) {
	d, ok := s.route(c, dirfd, pathPtr, fsroute.Read)
	if !ok {
		return
	}
	switch d.Outcome {
	case fsroute.Local:
		c.cont()
	case fsroute.NotFound:
		c.failErrno(unix.ENOENT)
	case fsroute.Remote:
		c.async(func(ctx context.Context) {
			rctx, cancel := c.remoteCtx(ctx)
			defer cancel()
			var r protocol.ReadlinkResponse
			err := s.remote.Call(rctx, protocol.KindReadlink, protocol.ReadlinkRequest{Path: d.Path}, &r)
			switch {
			case unsupported(err):
				c.cont()
				return
			case err != nil:
				c.fail(err, unix.EINVAL)
				return
			}
			b := []byte(r.Target)[:min(uint64(len(r.Target)), size)]
			if err := c.p.Write(buf, b); err != nil {
				c.fail(err, unix.EFAULT)
				return
			}
			c.ret(int64(len(b)))
		})
	}
}
