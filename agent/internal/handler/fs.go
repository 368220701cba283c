//go:build linux

package handler

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
)

// Bounds of the file operations, so that one request can neither exhaust
// the agent nor exceed protocol.MaxFrame.
const (
	// MaxIO is the most bytes one fs.read or fs.write moves.
	MaxIO = 4 << 20
	// maxHandles is the most files one session keeps open.
	maxHandles = 4096
	// maxDirBytes bounds one fs.readdir answer (names plus overhead).
	maxDirBytes = 8 << 20
)

// openMask is the open(2) flags a client may pass on; anything else
// (O_PATH, O_TMPFILE, O_DIRECT, O_NOATIME, ...) is dropped.
const openMask = unix.O_ACCMODE | unix.O_CREAT | unix.O_EXCL | unix.O_TRUNC | unix.O_APPEND |
	unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_SYNC | unix.O_DSYNC

// files is one session's open remote files: handle → fd. Every file is
// closed when the session ends (Close), whatever the client did.
type files struct {
	mu     sync.Mutex
	next   uint64
	open   map[uint64]*os.File
	root   *os.File // the target's root directory, opened on first use
	closed bool
}

// rootDir opens (once) the directory every path is resolved in: the
// target container's root as /proc/<pid>/root shows it, or the agent's own
// root when targetless.
func (s *session) rootDir() (*os.File, error) {
	f := &s.files
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, protocol.Errorf(protocol.CodeInvalid, "the session has ended")
	}
	if f.root != nil {
		return f.root, nil
	}
	root := s.agent.Root
	if root == "" {
		root = "/"
	}
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the target's filesystem %s (the agent needs CAP_SYS_PTRACE and hostPID): %w", root, err)
	}
	f.root = os.NewFile(uintptr(fd), root)
	return f.root, nil
}

// resolve opens p inside the target's root. RESOLVE_IN_ROOT makes "/"
// and ".." stop at the container's root and resolves absolute symlinks
// relative to it, so no path or link can reach the node's filesystem;
// RESOLVE_NO_MAGICLINKS refuses /proc/<pid>/fd-style jumps out of it.
func (s *session) resolve(p string, flags int, mode uint32) (int, error) {
	if p == "" || !strings.HasPrefix(p, "/") {
		return -1, protocol.Errorf(protocol.CodeInvalid, "path %q is not absolute", p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return -1, protocol.Errorf(protocol.CodeInvalid, "path %q contains a NUL byte", p)
	}
	root, err := s.rootDir()
	if err != nil {
		return -1, err
	}
	how := unix.OpenHow{
		Flags:   uint64(flags) | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
		how.Mode = uint64(mode & 0o7777)
	}
	for {
		fd, err := unix.Openat2(int(root.Fd()), p, &how)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			// EAGAIN: a rename raced the resolution; try again.
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: p, Err: err}
		}
		return fd, nil
	}
}

func (s *session) add(f *os.File) (uint64, error) {
	t := &s.files
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		f.Close()
		return 0, protocol.Errorf(protocol.CodeInvalid, "the session has ended")
	}
	if len(t.open) >= maxHandles {
		f.Close()
		return 0, &os.PathError{Op: "open", Path: f.Name(), Err: syscall.EMFILE}
	}
	if t.open == nil {
		t.open = map[uint64]*os.File{}
	}
	t.next++
	t.open[t.next] = f
	return t.next, nil
}

func (s *session) file(h uint64) (*os.File, error) {
	t := &s.files
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.open[h]
	if !ok {
		return nil, &protocol.Error{Code: protocol.CodeInvalid, Errno: int(syscall.EBADF), Msg: fmt.Sprintf("no open file with handle %d", h)}
	}
	return f, nil
}

// Close releases every file of the session; protocol.Serve calls it when
// the session has ended and every request has returned.
func (s *session) Close() error {
	if m := s.agent.Incoming; m != nil {
		m.Release(s.ss)
	}
	t := &s.files
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for h, f := range t.open {
		f.Close()
		delete(t.open, h)
	}
	if t.root != nil {
		t.root.Close()
		t.root = nil
	}
	return nil
}

// callFS serves the fs.* requests.
func (s *session) callFS(kind protocol.Kind, body []byte) (any, error) {
	decode := func(v any) error {
		if err := protocol.Unmarshal(body, v); err != nil {
			return protocol.Errorf(protocol.CodeInvalid, "decoding %s request: %v", kind, err)
		}
		return nil
	}
	switch kind {
	case protocol.KindOpen:
		var req protocol.OpenRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.open(req)
	case protocol.KindRead:
		var req protocol.ReadRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.read(req)
	case protocol.KindWrite:
		var req protocol.WriteRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.write(req)
	case protocol.KindClose:
		var req protocol.CloseRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return protocol.Empty{}, s.closeHandle(req.Handle)
	case protocol.KindStat:
		var req protocol.StatRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.stat(req)
	case protocol.KindReaddir:
		var req protocol.ReaddirRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.readdir(req)
	case protocol.KindReadlink:
		var req protocol.ReadlinkRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return s.readlink(req)
	case protocol.KindAccess:
		var req protocol.AccessRequest
		if err := decode(&req); err != nil {
			return nil, err
		}
		return protocol.Empty{}, s.access(req)
	}
	return nil, protocol.Errorf(protocol.CodeUnsupported, "agent %s does not know the request %q", s.agent.Version, kind)
}

func (s *session) open(req protocol.OpenRequest) (protocol.OpenResponse, error) {
	// O_NONBLOCK: opening a FIFO on the target must not hang the agent.
	flags := req.Flags&openMask | unix.O_NONBLOCK | unix.O_NOCTTY
	fd, err := s.resolve(req.Path, flags, req.Mode)
	if err != nil {
		return protocol.OpenResponse{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return protocol.OpenResponse{}, &os.PathError{Op: "stat", Path: req.Path, Err: err}
	}
	h, err := s.add(os.NewFile(uintptr(fd), req.Path))
	if err != nil {
		return protocol.OpenResponse{}, err
	}
	return protocol.OpenResponse{Handle: h, Stat: fileStat(&st)}, nil
}

func (s *session) read(req protocol.ReadRequest) (protocol.ReadResponse, error) {
	f, err := s.file(req.Handle)
	if err != nil {
		return protocol.ReadResponse{}, err
	}
	if req.Size < 0 || req.Offset < 0 {
		return protocol.ReadResponse{}, &protocol.Error{Code: protocol.CodeInvalid, Errno: int(syscall.EINVAL), Msg: "negative read size or offset"}
	}
	buf := make([]byte, min(req.Size, MaxIO))
	n := 0
	for n < len(buf) {
		m, err := unix.Pread(int(f.Fd()), buf[n:], req.Offset+int64(n))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			if n > 0 {
				break
			}
			return protocol.ReadResponse{}, &os.PathError{Op: "read", Path: f.Name(), Err: err}
		}
		if m == 0 {
			return protocol.ReadResponse{Data: buf[:n], EOF: true}, nil
		}
		n += m
	}
	return protocol.ReadResponse{Data: buf[:n]}, nil
}

func (s *session) write(req protocol.WriteRequest) (protocol.WriteResponse, error) {
	f, err := s.file(req.Handle)
	if err != nil {
		return protocol.WriteResponse{}, err
	}
	if len(req.Data) > MaxIO || req.Offset < 0 {
		return protocol.WriteResponse{}, &protocol.Error{Code: protocol.CodeInvalid, Errno: int(syscall.EINVAL), Msg: fmt.Sprintf("write of %d bytes at %d: over %d bytes or negative offset", len(req.Data), req.Offset, MaxIO)}
	}
	n := 0
	for n < len(req.Data) {
		m, err := unix.Pwrite(int(f.Fd()), req.Data[n:], req.Offset+int64(n))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			if n > 0 {
				break
			}
			return protocol.WriteResponse{}, &os.PathError{Op: "write", Path: f.Name(), Err: err}
		}
		n += m
	}
	return protocol.WriteResponse{N: n}, nil
}

func (s *session) closeHandle(h uint64) error {
	t := &s.files
	t.mu.Lock()
	f, ok := t.open[h]
	delete(t.open, h)
	t.mu.Unlock()
	if !ok {
		return &protocol.Error{Code: protocol.CodeInvalid, Errno: int(syscall.EBADF), Msg: fmt.Sprintf("no open file with handle %d", h)}
	}
	return f.Close()
}

func (s *session) stat(req protocol.StatRequest) (protocol.FileStat, error) {
	var st unix.Stat_t
	if req.Path == "" {
		f, err := s.file(req.Handle)
		if err != nil {
			return protocol.FileStat{}, err
		}
		if err := unix.Fstat(int(f.Fd()), &st); err != nil {
			return protocol.FileStat{}, &os.PathError{Op: "stat", Path: f.Name(), Err: err}
		}
		return fileStat(&st), nil
	}
	flags := unix.O_PATH
	if req.NoFollow {
		flags |= unix.O_NOFOLLOW // O_PATH|O_NOFOLLOW opens the link itself
	}
	fd, err := s.resolve(req.Path, flags, 0)
	if err != nil {
		return protocol.FileStat{}, err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return protocol.FileStat{}, &os.PathError{Op: "stat", Path: req.Path, Err: err}
	}
	return fileStat(&st), nil
}

func (s *session) readlink(req protocol.ReadlinkRequest) (protocol.ReadlinkResponse, error) {
	fd, err := s.resolve(req.Path, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return protocol.ReadlinkResponse{}, err
	}
	defer unix.Close(fd)
	buf := make([]byte, unix.PathMax)
	// readlinkat with an empty path reads the link an O_PATH fd refers to.
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			err = unix.EINVAL // not a symlink: readlink(2) says EINVAL
		}
		return protocol.ReadlinkResponse{}, &os.PathError{Op: "readlink", Path: req.Path, Err: err}
	}
	return protocol.ReadlinkResponse{Target: string(buf[:n])}, nil
}

func (s *session) access(req protocol.AccessRequest) error {
	if req.Mode&^uint32(unix.R_OK|unix.W_OK|unix.X_OK) != 0 {
		return &protocol.Error{Code: protocol.CodeInvalid, Errno: int(syscall.EINVAL), Msg: fmt.Sprintf("access mode %#o", req.Mode)}
	}
	fd, err := s.resolve(req.Path, unix.O_PATH, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Faccessat2(fd, "", req.Mode, unix.AT_EMPTY_PATH); err != nil {
		return &os.PathError{Op: "access", Path: req.Path, Err: err}
	}
	return nil
}

func (s *session) readdir(req protocol.ReaddirRequest) (protocol.ReaddirResponse, error) {
	fd, err := s.resolve(req.Path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return protocol.ReaddirResponse{}, err
	}
	defer unix.Close(fd)
	out := protocol.ReaddirResponse{Entries: []protocol.DirEntry{}}
	buf := make([]byte, 64<<10)
	total := 0
	for {
		n, err := unix.Getdents(fd, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return protocol.ReaddirResponse{}, &os.PathError{Op: "readdir", Path: req.Path, Err: err}
		}
		if n == 0 {
			return out, nil
		}
		for _, e := range parseDirents(buf[:n]) {
			if e.Name == "." || e.Name == ".." {
				continue
			}
			total += len(e.Name) + 16
			if total > maxDirBytes {
				return protocol.ReaddirResponse{}, &os.PathError{Op: "readdir", Path: req.Path, Err: fmt.Errorf("more than %d bytes of entries: %w", maxDirBytes, syscall.EOVERFLOW)}
			}
			out.Entries = append(out.Entries, e)
		}
	}
}

// parseDirents decodes struct linux_dirent64 records.
func parseDirents(b []byte) []protocol.DirEntry {
	var out []protocol.DirEntry
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			break
		}
		name := b[19:reclen]
		if i := strings.IndexByte(string(name), 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, protocol.DirEntry{Name: string(name), Ino: binary.NativeEndian.Uint64(b[0:8]), Type: b[18]})
		b = b[reclen:]
	}
	return out
}

func fileStat(st *unix.Stat_t) protocol.FileStat {
	return protocol.FileStat{
		Mode: st.Mode, Size: st.Size, Ino: st.Ino, Dev: uint64(st.Dev), Nlink: uint64(st.Nlink),
		UID: st.Uid, GID: st.Gid, Rdev: uint64(st.Rdev),
		Atime:   st.Atim.Nano(),
		Mtime:   st.Mtim.Nano(),
		Ctime:   st.Ctim.Nano(),
		Blksize: int64(st.Blksize), Blocks: st.Blocks,
	}
}
