package notify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Data mirrors struct seccomp_data.
type Data struct {
	Nr                 int32
	Arch               uint32
	InstructionPointer uint64
	Args               [6]uint64
}

// Notif mirrors struct seccomp_notif. Pid is the thread id of the caller
// as seen from the supervisor's pid namespace.
type Notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  Data
}

// resp mirrors struct seccomp_notif_resp.
type resp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// addfd mirrors struct seccomp_notif_addfd.
type addfd struct {
	ID         uint64
	Flags      uint32
	Srcfd      uint32
	Newfd      uint32
	NewfdFlags uint32
}

// sizes mirrors struct seccomp_notif_sizes.
type sizes struct {
	Notif     uint16
	NotifResp uint16
	Data      uint16
}

const notifSize = int(unsafe.Sizeof(Notif{}))

// ErrClosed is returned by operations on a closed Listener.
var ErrClosed = errors.New("seccomp listener closed")

// ErrNoTasks is returned by Recv once no task uses the filter any more.
var ErrNoTasks = errors.New("no process uses the seccomp filter any more")

func seccomp(op, flags uintptr, p unsafe.Pointer) (uintptr, error) {
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, op, flags, uintptr(p))
	if e != 0 {
		return r, e
	}
	return r, nil
}

// kernelNotifSize is the size the kernel writes on RECV. A newer kernel
// may grow the struct; the buffer must then be larger than ours.
var kernelNotifSize = sync.OnceValues(func() (int, error) {
	var s sizes
	if _, err := seccomp(unix.SECCOMP_GET_NOTIF_SIZES, 0, unsafe.Pointer(&s)); err != nil {
		return 0, fmt.Errorf("SECCOMP_GET_NOTIF_SIZES: %w", err)
	}
	if int(s.Notif) < notifSize || int(s.NotifResp) < int(unsafe.Sizeof(resp{})) {
		return 0, fmt.Errorf("kernel seccomp_notif sizes %d/%d are smaller than the documented ABI", s.Notif, s.NotifResp)
	}
	return int(s.Notif), nil
})

// Listener is a seccomp user-notification fd. Its methods are safe for
// concurrent use. Close only closes the fd once no ioctl is running on it,
// so a concurrent SEND can never hit a reused fd number.
type Listener struct {
	fd     int
	wake   int // eventfd that ends a blocked Recv
	mu     sync.Mutex
	refs   int
	closed bool
	bufLen int
}

// NewListener takes ownership of fd.
func NewListener(fd int) (*Listener, error) {
	n, err := kernelNotifSize()
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("creating the listener's wake eventfd: %w", err)
	}
	unix.CloseOnExec(fd)
	return &Listener{fd: fd, wake: wake, bufLen: n}, nil
}

// FD is the raw listener fd (for passing it on); do not close it.
func (l *Listener) FD() int { return l.fd }

func (l *Listener) acquire() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return -1, ErrClosed
	}
	l.refs++
	return l.fd, nil
}

func (l *Listener) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refs--
	if l.closed && l.refs == 0 {
		l.closeLocked()
	}
}

func (l *Listener) closeLocked() {
	if l.fd >= 0 {
		unix.Close(l.fd)
		unix.Close(l.wake)
		l.fd, l.wake = -1, -1
	}
}

// Close wakes a blocked Recv and closes the listener once no ioctl runs
// on it. From then on the kernel fails every trapped syscall of the
// supervised processes, including the ones waiting for an answer, with
// ENOSYS: the filter cannot be removed, but nothing hangs.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(l.wake, one[:])
	if l.refs == 0 {
		l.closeLocked()
	}
	return nil
}

func ioctl(fd int, req uintptr, p unsafe.Pointer) (uintptr, error) {
	for {
		r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p))
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return r, e
		}
		return r, nil
	}
}

// Recv waits for the next notification. It returns ErrNoTasks once no
// process uses the filter and ErrClosed after Close.
func (l *Listener) Recv() (Notif, error) {
	fd, err := l.acquire()
	if err != nil {
		return Notif{}, err
	}
	defer l.release()
	buf := make([]byte, l.bufLen)
	for {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(l.wake), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return Notif{}, fmt.Errorf("polling the seccomp listener: %w", err)
		}
		if pfd[1].Revents != 0 {
			return Notif{}, ErrClosed
		}
		re := pfd[0].Revents
		if re&unix.POLLIN == 0 {
			if re&(unix.POLLHUP|unix.POLLERR) != 0 {
				return Notif{}, ErrNoTasks
			}
			if re&unix.POLLNVAL != 0 {
				return Notif{}, ErrClosed
			}
			continue
		}
		clear(buf)
		if _, err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&buf[0])); err != nil {
			if err == unix.ENOENT {
				// The caller was interrupted between poll and RECV.
				continue
			}
			return Notif{}, fmt.Errorf("SECCOMP_IOCTL_NOTIF_RECV: %w", err)
		}
		n := *(*Notif)(unsafe.Pointer(&buf[0]))
		runtime.KeepAlive(buf)
		return n, nil
	}
}

func (l *Listener) send(r *resp) error {
	fd, err := l.acquire()
	if err != nil {
		return err
	}
	defer l.release()
	_, err = ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(r))
	return err
}

// Continue lets the kernel run the call as if it had not been trapped.
// ENOENT means the caller is gone (interrupted by a signal or killed).
func (l *Listener) Continue(id uint64) error {
	return l.send(&resp{ID: id, Flags: unix.SECCOMP_USER_NOTIF_FLAG_CONTINUE})
}

// Return makes the call return val.
func (l *Listener) Return(id uint64, val int64) error {
	return l.send(&resp{ID: id, Val: val})
}

// Fail makes the call fail with errno.
func (l *Listener) Fail(id uint64, errno unix.Errno) error {
	return l.send(&resp{ID: id, Error: -int32(errno)})
}

// Valid reports whether the caller still waits for notification id; nil
// means yes. Checking it after reading the caller's memory proves the
// memory belonged to that caller and not to a process that reused its pid.
func (l *Listener) Valid(id uint64) error {
	fd, err := l.acquire()
	if err != nil {
		return err
	}
	defer l.release()
	_, err = ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id))
	return err
}

// AddFDSend installs srcfd in the caller as a new fd and makes the call
// return that number, atomically (no fd leaks if the caller is
// interrupted). It must run on a thread prepared by LockThreadForInject;
// see the package doc for why.
func (l *Listener) AddFDSend(id uint64, srcfd int, cloexec bool) (int, error) {
	fd, err := l.acquire()
	if err != nil {
		return -1, err
	}
	defer l.release()
	a := addfd{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, Srcfd: uint32(srcfd)}
	if cloexec {
		a.NewfdFlags = unix.O_CLOEXEC
	}
	// Not retried on EINTR: with FLAG_SEND a restarted ioctl would act on a
	// notification that is already answered.
	r, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_ADDFD, uintptr(unsafe.Pointer(&a)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// SetSyncWakeup asks the kernel (6.6+) to wake the caller on the
// supervisor's CPU, which keeps a round trip at about 2 µs under load.
// Older kernels fail with EINVAL; callers ignore that.
func (l *Listener) SetSyncWakeup() error {
	fd, err := l.acquire()
	if err != nil {
		return err
	}
	defer l.release()
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, uintptr(unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP))
	if e != 0 {
		return e
	}
	return nil
}

// LockThreadForInject pins the calling goroutine to its OS thread and
// blocks every signal on that thread, so that an ADDFD|SEND ioctl on it
// cannot be interrupted (Go's preemption signal would otherwise make the
// target's call return 0). The goroutine must never unlock: when it
// returns, the runtime discards the thread with its altered mask.
func LockThreadForInject() error {
	runtime.LockOSThread()
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^all.Val[i]
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &all, nil); err != nil {
		return fmt.Errorf("blocking signals on the fd-injection thread: %w", err)
	}
	return nil
}
