package layer

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/layer/internal/notify"
)

// The seccomp listener is handed over by number, not with SCM_RIGHTS:
// once the filter is installed, sendmsg may itself be trapped (outgoing
// UDP), and nobody serves the listener yet. The process that installed
// the filter writes 'L', the flags it used (u64) and the listener's fd
// (i32); the receiver copies the fd with pidfd_getfd and acknowledges,
// and only then does the process close its copy. write, read and close
// are never trapped.
const handoverLen = 1 + 8 + 4

func handoverMsg(lead byte, flags uintptr, fd int) []byte {
	msg := binary.NativeEndian.AppendUint64([]byte{lead}, uint64(flags))
	return binary.NativeEndian.AppendUint32(msg, uint32(int32(fd)))
}

// takeListener copies the listener named by a handover message out of pid.
func takeListener(pid int, msg []byte) (*notify.Listener, uint64, error) {
	if len(msg) < handoverLen {
		return nil, 0, fmt.Errorf("short listener handover message (%d bytes)", len(msg))
	}
	flags := binary.NativeEndian.Uint64(msg[1:9])
	fd := int(int32(binary.NativeEndian.Uint32(msg[9:13])))
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("pidfd_open(%d) for the seccomp listener: %w", pid, err)
	}
	defer unix.Close(pfd)
	lfd, err := unix.PidfdGetfd(pfd, fd, 0)
	if err != nil {
		return nil, 0, fmt.Errorf("taking the seccomp listener (fd %d) from process %d: %w", fd, pid, err)
	}
	unix.CloseOnExec(lfd)
	l, err := notify.NewListener(lfd)
	if err != nil {
		unix.Close(lfd)
		return nil, 0, err
	}
	return l, flags, nil
}
