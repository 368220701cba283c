// Package remotefs mounts a lazy, read/write view of the target pod's
// filesystem with FUSE, backed by the agent's fs.* operations, so that
// the supervisor can answer a program's open of a remote path with a real
// kernel fd on the mount's twin of that path.
//
// Why FUSE and not copies: with a real fd, read, pread, mmap, lseek,
// getdents64 and fstat work natively and are never trapped; only the bytes
// actually read cross the wire (a 1 GiB file costs what is read of it), and
// writes reach the pod. The mount lives in a private 0700 directory of the
// runner (mirrord itself), which alone opens files on it; the program only
// ever gets the fds. Mounting needs /dev/fuse, and root (a direct mount)
// or fusermount3; Mount says which is missing so the caller can fall back
// to read-only memory snapshots.
package remotefs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// Remote is the agent session as the filesystem uses it.
type Remote interface {
	Call(ctx context.Context, kind protocol.Kind, req, resp any) error
}

// Options configure Mount.
type Options struct {
	Remote Remote
	// Timeout bounds each agent request (agent.communication_timeout).
	Timeout time.Duration
	Logger  *slog.Logger
	// Dir is where the private directory is created (default: the
	// system temp dir).
	Dir string
}

// ErrUnavailable is wrapped by Mount's error when this machine cannot
// mount FUSE file systems at all.
var ErrUnavailable = errors.New("FUSE is unavailable")

// FS is a mounted view of the pod's filesystem.
type FS struct {
	dir, mnt string
	server   *fuse.Server
	opts     Options
	log      *slog.Logger
	direct   bool
	once     sync.Once
	err      error
}

// readChunk is how much one agent read fetches: reads from the kernel come
// in pieces of at most 1 MiB (usually 128 KiB), and every agent round trip
// costs about a millisecond through the API server.
const readChunk = 4 << 20

// Available reports why FUSE cannot be mounted here, or nil.
func Available() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: /dev/fuse: %v (load the fuse kernel module, or in a container pass --device /dev/fuse)", ErrUnavailable, err)
	}
	if os.Geteuid() == 0 {
		return nil
	}
	for _, name := range []string{"fusermount3", "fusermount"} {
		if _, err := exec.LookPath(name); err == nil {
			return nil
		}
	}
	return fmt.Errorf("%w: not root and no fusermount3 in PATH (install the fuse3 package)", ErrUnavailable)
}

// Mount mounts the pod's filesystem in a new private directory.
func Mount(o Options) (*FS, error) {
	if o.Remote == nil {
		return nil, errors.New("remotefs: no agent session")
	}
	if err := Available(); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	SweepStale(o.Dir, log)
	dir, err := os.MkdirTemp(o.Dir, "mirrord-fs-") // 0700: only this user gets in
	if err != nil {
		return nil, fmt.Errorf("creating the directory for the remote filesystem mount: %w", err)
	}
	mnt := filepath.Join(dir, "root")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("creating the remote filesystem mount point: %w", err)
	}
	f := &FS{dir: dir, mnt: mnt, opts: o, log: log, direct: os.Geteuid() == 0}
	if err := f.probe(); err != nil {
		os.Remove(mnt)
		os.Remove(dir)
		return nil, err
	}
	sec := time.Second
	opts := &fs.Options{
		MountOptions: fuse.MountOptions{
			FsName: "mirrord", Name: "mirrord",
			DirectMount: f.direct,
			// No silent fallback to fusermount: mountNoLeak holds the
			// fork lock, and fusermount is started with a fork.
			DirectMountStrict: f.direct,
			DisableXAttrs:     true,
			MaxWrite:          1 << 20,
			MaxReadAhead:      1 << 20,
			MaxBackground:     32,
		},
		// Short caches: the pod's files may change under us, and a
		// program that reopens a file should see the new content.
		EntryTimeout: &sec, AttrTimeout: &sec, NegativeTimeout: &sec,
		NullPermissions: true,
	}
	srv, err := mountNoLeak(mnt, &node{fs: f}, opts)
	if err != nil {
		os.Remove(mnt)
		os.Remove(dir)
		return nil, fmt.Errorf("mounting the remote filesystem at %s: %w", mnt, err)
	}
	f.server = srv
	return f, nil
}

// ErrNoAgentFS is wrapped by Mount's error when the agent does not serve
// file operations (an older agent).
var ErrNoAgentFS = errors.New("the agent does not serve files")

// probe asks the agent for the root's attributes: an agent without file
// support is found before anything is mounted.
func (f *FS) probe() error {
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.Timeout)
	defer cancel()
	var st protocol.FileStat
	err := f.opts.Remote.Call(ctx, protocol.KindStat, protocol.StatRequest{Path: "/"}, &st)
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Code == protocol.CodeUnsupported {
		return fmt.Errorf("%w: %v", ErrNoAgentFS, err)
	}
	if err != nil {
		return fmt.Errorf("reading the target's root directory: %w", err)
	}
	return nil
}

// SweepStale detaches the mounts that killed mirrord processes left
// behind (SIGKILL leaves no chance to unmount): their server is gone, so
// any access fails with ENOTCONN. Live mounts of other sessions answer and
// are left alone.
func SweepStale(base string, log *slog.Logger) {
	if base == "" {
		base = os.TempDir()
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 || !strings.Contains(line, " - fuse.mirrord ") {
			continue
		}
		mnt := fields[4]
		if filepath.Dir(filepath.Dir(mnt)) != filepath.Clean(base) || !strings.HasPrefix(filepath.Base(filepath.Dir(mnt)), "mirrord-fs-") {
			continue
		}
		if !disconnected(mnt) {
			continue
		}
		f := &FS{dir: filepath.Dir(mnt), mnt: mnt, direct: os.Geteuid() == 0}
		if err := f.detach(); err != nil {
			log.Debug("removing a stale mirrord mount failed", "mount", mnt, "err", err)
			continue
		}
		os.Remove(f.mnt)
		os.Remove(f.dir)
		log.Debug("removed a stale mirrord mount", "mount", mnt)
	}
}

// disconnected reports whether the mount's server is gone. A mount whose
// server lives but does not answer (stopped under a debugger) must not
// hang the next session: after a second it counts as alive, and the
// goroutine stuck in stat is left behind.
func disconnected(mnt string) bool {
	res := make(chan error, 1)
	go func() {
		var st unix.Stat_t
		res <- unix.Stat(mnt, &st)
	}()
	select {
	case err := <-res:
		return errors.Is(err, unix.ENOTCONN)
	case <-time.After(time.Second):
		return false
	}
}

// Mountpoint is where the pod's "/" appears.
func (f *FS) Mountpoint() string { return f.mnt }

// Twin is the local path of a remote absolute path on the mount.
func (f *FS) Twin(remote string) string {
	return f.mnt + path.Clean("/"+remote)
}

// Remote returns the remote path of a path on the mount.
func (f *FS) Remote(local string) (string, bool) {
	if local == f.mnt {
		return "/", true
	}
	rest, ok := strings.CutPrefix(local, f.mnt+"/")
	if !ok {
		return "", false
	}
	return "/" + rest, true
}

// Unmount removes the mount and its directory. Files the program still
// has open (a child it left running) make a normal unmount fail; the mount
// is then detached, so it disappears at once and goes when the last fd
// closes. Safe to call more than once.
func (f *FS) Unmount() error {
	f.once.Do(func() { f.err = f.unmount() })
	return f.err
}

func (f *FS) unmount() error {
	done := make(chan error, 1)
	go func() { done <- f.server.Unmount() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		err = errors.New("unmount timed out")
	}
	if err != nil {
		if derr := f.detach(); derr != nil {
			return fmt.Errorf("unmounting the remote filesystem at %s: %v; detaching it: %w", f.mnt, err, derr)
		}
	}
	// Remove, never RemoveAll: should the mount still be there, RemoveAll
	// would delete the pod's files.
	os.Remove(f.mnt)
	os.Remove(f.dir)
	return nil
}

func (f *FS) detach() error {
	if f.direct {
		return unix.Unmount(f.mnt, unix.MNT_DETACH)
	}
	for _, name := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(name); err == nil {
			if out, err := exec.Command(p, "-u", "-z", f.mnt).CombinedOutput(); err != nil {
				return fmt.Errorf("%s -u -z: %v: %s", name, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("no fusermount3 to detach the mount with")
}

// call makes one agent request, bounded by the timeout and by ctx (FUSE
// cancels it when the program gives up, e.g. on a signal).
func (f *FS) call(ctx context.Context, kind protocol.Kind, req, resp any) syscall.Errno {
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	err := f.opts.Remote.Call(ctx, kind, req, resp)
	if err == nil {
		return 0
	}
	e := errnoOf(err)
	if e == syscall.ENOSYS {
		// The kernel takes ENOSYS as "this file system never
		// implements the operation" (OPEN, FLUSH, ...) and stops asking.
		e = syscall.EIO
	}
	if e == syscall.EIO || e == syscall.ETIMEDOUT {
		if errors.Is(err, context.DeadlineExceeded) {
			f.log.Warn("a remote file operation timed out", "op", string(kind), "after", f.opts.Timeout, "config", "agent.communication_timeout")
		} else {
			f.log.Debug("a remote file operation failed", "op", string(kind), "err", err)
		}
	}
	return e
}

// errnoOf maps an agent error to the errno the program sees.
func errnoOf(err error) syscall.Errno {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if e, ok := pe.AsErrno(); ok {
			return e
		}
		switch pe.Code {
		case protocol.CodeNotFound:
			return syscall.ENOENT
		case protocol.CodePermission:
			return syscall.EACCES
		case protocol.CodeUnsupported:
			return syscall.ENOSYS
		case protocol.CodeInvalid:
			return syscall.EINVAL
		}
		return syscall.EIO
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return syscall.ETIMEDOUT
	}
	if errors.Is(err, context.Canceled) {
		return syscall.EINTR
	}
	return syscall.EIO
}

// inodeNumber folds the pod's device into the inode number: a container's
// root and its mounts (an /etc/hosts bind mount, a volume) may reuse
// numbers, and go-fuse treats equal numbers as the same file.
func inodeNumber(st protocol.FileStat) uint64 {
	n := st.Ino ^ (st.Dev * 0x9E3779B97F4A7C15)
	if n == 0 || n == 1 { // 1 is the mount's root
		n = st.Ino | 1<<62
	}
	return n
}

func fillAttr(out *fuse.Attr, st protocol.FileStat) {
	out.Mode = st.Mode
	out.Size = uint64(st.Size)
	out.Ino = inodeNumber(st)
	out.Nlink = uint32(st.Nlink)
	out.Owner = fuse.Owner{Uid: st.UID, Gid: st.GID}
	out.Rdev = uint32(st.Rdev)
	out.Blksize = uint32(st.Blksize)
	out.Blocks = uint64(st.Blocks)
	set := func(ns int64, sec *uint64, nsec *uint32) {
		*sec, *nsec = uint64(ns/1e9), uint32(ns%1e9)
	}
	set(st.Atime, &out.Atime, &out.Atimensec)
	set(st.Mtime, &out.Mtime, &out.Mtimensec)
	set(st.Ctime, &out.Ctime, &out.Ctimensec)
}

// mountNoLeak mounts like fs.Mount. go-fuse's direct mount (as root) opens
// /dev/fuse without O_CLOEXEC and never sets it, so every program mirrord
// starts afterwards would inherit the fd and keep the filesystem alive
// (and a stat of it hanging) after mirrord itself died. The fork lock
// keeps any fork of this process out of the window until the flag is set.
func mountNoLeak(mnt string, root fs.InodeEmbedder, opts *fs.Options) (*fuse.Server, error) {
	if !opts.DirectMount {
		return fs.Mount(mnt, root, opts)
	}
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	srv, err := fs.Mount(mnt, root, opts)
	markFuseCloexec()
	return srv, err
}

// markFuseCloexec sets close-on-exec on every open /dev/fuse descriptor
// of this process.
func markFuseCloexec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if dst, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && dst == "/dev/fuse" {
			syscall.CloseOnExec(fd)
		}
	}
}
