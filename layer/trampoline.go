package layer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/layer/internal/notify"
)

// TrampolineMarker is the hidden first argument that makes the mirrord
// binary run TrampolineMain instead of its CLI: the CLI's entry point
// checks its first argument for it and returns TrampolineMain's result as
// the exit code.
const TrampolineMarker = "__mirrord_layer_trampoline"

// trampolineFD is where Exec passes its end of the socket pair.
const trampolineFD = 3

// Messages from the trampoline to Exec.
const (
	msgListener   = "L" // + flags (u64) + listener fd (i32), see handover.go
	msgSupervised = "S" // already supervised; exec'ing without a filter
	msgError      = "E" // + message
)

// TrampolineMain runs in the re-executed mirrord binary. args are the
// program's path and then its argv. It receives the BPF program from Exec
// on fd 3, installs it on this thread, sends the listener back, and
// execve()s the program on the same thread, so that the program and all
// its descendants are supervised from their first instruction. It returns
// only on failure, with an exit code.
func TrampolineMain(args []string) int {
	// The filter is installed on the calling thread only; execve keeps
	// only that thread, so the filter and the exec must share it.
	runtime.LockOSThread()
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "mirrord: the layer trampoline needs a program path and argv")
		return 2
	}
	path, argv := args[0], args[1:]
	fail := func(err error) int {
		_, _ = unix.Write(trampolineFD, []byte(msgError+err.Error()))
		fmt.Fprintf(os.Stderr, "mirrord: %v\n", err)
		return 111
	}
	buf := make([]byte, 64<<10)
	n, _, _, _, err := unix.Recvmsg(trampolineFD, buf, nil, 0)
	if err != nil || n < 8 {
		fmt.Fprintf(os.Stderr, "mirrord: the layer trampoline got no filter from mirrord (%v); it must not be run by hand\n", err)
		return 111
	}
	flags := uintptr(binary.NativeEndian.Uint64(buf))
	prog, err := notify.Unmarshal(buf[8:n])
	if err != nil {
		return fail(err)
	}
	env := os.Environ()
	if notify.Supervised() {
		_, _ = unix.Write(trampolineFD, []byte(msgSupervised))
		unix.Close(trampolineFD)
		return execProgram(path, argv, env)
	}
	lfd, used, err := notify.Install(prog, flags)
	if err != nil {
		return fail(fmt.Errorf("installing the seccomp filter: %w", err))
	}
	// From here until exec, no trapped syscall: nobody serves the
	// listener yet (see handover.go).
	if _, err := unix.Write(trampolineFD, handoverMsg(msgListener[0], used, lfd)); err != nil {
		fmt.Fprintf(os.Stderr, "mirrord: handing the seccomp listener to mirrord: %v\n", err)
		return 111
	}
	ack := make([]byte, 512)
	if n, err := unix.Read(trampolineFD, ack); err != nil || n == 0 || ack[0] != msgAck {
		if n > 1 && ack[0] == msgError[0] {
			fmt.Fprintf(os.Stderr, "mirrord: %s\n", ack[1:n])
		} else {
			fmt.Fprintf(os.Stderr, "mirrord: mirrord did not take the seccomp listener (%v)\n", err)
		}
		return 111
	}
	unix.Close(lfd)
	unix.Close(trampolineFD)
	return execProgram(path, argv, env)
}

func execProgram(path string, argv, env []string) int {
	err := unix.Exec(path, argv, env)
	fmt.Fprintf(os.Stderr, "mirrord: executing %s: %v\n", path, err)
	if errors.Is(err, syscall.ENOENT) {
		return 127
	}
	return 126
}
