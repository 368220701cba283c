package target

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Proc is the caller of one notification.
type Proc struct {
	// TID is the calling thread as the supervisor sees it.
	TID int
	// Valid reports whether the notification is still pending (nil: yes).
	Valid func() error
}

// ErrGone means the caller stopped waiting (signal, exit) while we looked
// at it; whatever was read must be thrown away and no answer is needed.
var ErrGone = errors.New("the trapped call is no longer pending")

func (p Proc) check() error {
	if p.Valid == nil {
		return nil
	}
	if err := p.Valid(); err != nil {
		return fmt.Errorf("%w: %v", ErrGone, err)
	}
	return nil
}

// readv reads len(b) bytes at addr; it may return fewer at an unmapped page.
func (p Proc) readv(addr uint64, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	local := []unix.Iovec{{Base: &b[0]}}
	local[0].SetLen(len(b))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	n, err := unix.ProcessVMReadv(p.TID, local, remote, 0)
	if err != nil {
		return 0, fmt.Errorf("reading %d bytes at %#x of thread %d: %w", len(b), addr, p.TID, err)
	}
	return n, nil
}

// Read fills b from addr, then checks that the caller is still the same.
func (p Proc) Read(addr uint64, b []byte) error {
	n, err := p.readv(addr, b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("reading %d bytes at %#x of thread %d: %w", len(b), addr, p.TID, unix.EFAULT)
	}
	return p.check()
}

// ReadString reads a NUL-terminated string of at most max bytes (PATH_MAX
// for paths), one page at a time so that it never reads across into an
// unmapped page it does not need.
func (p Proc) ReadString(addr uint64, max int) (string, error) {
	if addr == 0 {
		return "", unix.EFAULT
	}
	var out []byte
	buf := make([]byte, 4096)
	for len(out) < max {
		chunk := 4096 - int(addr%4096)
		n, err := p.readv(addr, buf[:chunk])
		if err != nil {
			return "", err
		}
		for i := range n {
			if buf[i] == 0 {
				out = append(out, buf[:i]...)
				if err := p.check(); err != nil {
					return "", err
				}
				return string(out), nil
			}
		}
		out = append(out, buf[:n]...)
		addr += uint64(n)
		if n < chunk {
			return "", unix.EFAULT
		}
	}
	return "", unix.ENAMETOOLONG
}

// Mem is an open /proc/<tid>/mem, validated after opening, for writes.
type Mem struct {
	f *os.File
}

// OpenMem opens the caller's memory for writing. The open file keeps
// referring to the address space it was opened on, so the ID_VALID check
// right after it settles the pid-reuse question for every later write.
func (p Proc) OpenMem() (*Mem, error) {
	f, err := os.OpenFile("/proc/"+strconv.Itoa(p.TID)+"/mem", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the memory of thread %d: %w", p.TID, err)
	}
	if err := p.check(); err != nil {
		f.Close()
		return nil, err
	}
	return &Mem{f: f}, nil
}

// Write writes b at addr.
func (m *Mem) Write(addr uint64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	n, err := m.f.WriteAt(b, int64(addr))
	if err != nil {
		return fmt.Errorf("writing %d bytes at %#x: %w", len(b), addr, unix.EFAULT)
	}
	if n != len(b) {
		return fmt.Errorf("short write of %d/%d bytes at %#x: %w", n, len(b), addr, unix.EFAULT)
	}
	return nil
}

// Close releases the memory file.
func (m *Mem) Close() error { return m.f.Close() }

// Write is OpenMem, one write, Close.
func (p Proc) Write(addr uint64, b []byte) error {
	m, err := p.OpenMem()
	if err != nil {
		return err
	}
	defer m.Close()
	return m.Write(addr, b)
}

// GetFD duplicates the caller's fd into the supervisor (close it after
// use). The duplicate shares the open file description: flags such as
// O_NONBLOCK, socket options and the socket itself are the caller's.
func (p Proc) GetFD(fd int) (int, error) {
	pfd, err := unix.PidfdOpen(p.TID, unix.PIDFD_THREAD)
	if err == unix.EINVAL {
		// Before 6.9 only thread-group leaders have pidfds. fd tables are
		// shared by threads, so the leader's table is the caller's.
		tgid, terr := Tgid(p.TID)
		if terr != nil {
			return -1, terr
		}
		pfd, err = unix.PidfdOpen(tgid, 0)
	}
	if err != nil {
		return -1, fmt.Errorf("pidfd_open(%d): %w", p.TID, err)
	}
	defer unix.Close(pfd)
	if err := p.check(); err != nil {
		return -1, err
	}
	dup, err := unix.PidfdGetfd(pfd, fd, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_getfd(thread %d, fd %d): %w", p.TID, fd, err)
	}
	unix.CloseOnExec(dup)
	return dup, nil
}

// Tgid maps a thread id to its process id.
func Tgid(tid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("reading the status of thread %d: %w", tid, err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			return strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return 0, fmt.Errorf("no Tgid in /proc/%d/status", tid)
}

// Cwd is the caller's working directory.
func (p Proc) Cwd() (string, error) {
	s, err := os.Readlink("/proc/" + strconv.Itoa(p.TID) + "/cwd")
	if err != nil {
		return "", fmt.Errorf("reading the working directory of thread %d: %w", p.TID, err)
	}
	return s, p.check()
}

// FDPath is what the caller's fd refers to (a path for files and
// directories).
func (p Proc) FDPath(fd int) (string, error) {
	s, err := os.Readlink("/proc/" + strconv.Itoa(p.TID) + "/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", fmt.Errorf("reading fd %d of thread %d: %w", fd, p.TID, err)
	}
	return s, p.check()
}

// Exe is the caller's executable.
func (p Proc) Exe() (string, error) {
	s, err := os.Readlink("/proc/" + strconv.Itoa(p.TID) + "/exe")
	if err != nil {
		return "", err
	}
	return s, p.check()
}
