package layer

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KernelVersion is a parsed kernel release.
type KernelVersion struct {
	Major, Minor int
	Release      string
}

// AtLeast compares with major.minor.
func (k KernelVersion) AtLeast(major, minor int) bool {
	return k.Major > major || (k.Major == major && k.Minor >= minor)
}

// ParseKernelRelease parses a release such as "6.18.44-fc-v769".
func ParseKernelRelease(rel string) (KernelVersion, error) {
	parts := strings.SplitN(rel, ".", 3)
	if len(parts) < 2 {
		return KernelVersion{}, fmt.Errorf("cannot read the kernel release %q", rel)
	}
	major, err1 := strconv.Atoi(parts[0])
	minorStr := parts[1]
	if i := strings.IndexFunc(minorStr, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minorStr = minorStr[:i]
	}
	minor, err2 := strconv.Atoi(minorStr)
	if err1 != nil || err2 != nil {
		return KernelVersion{}, fmt.Errorf("cannot read the kernel release %q", rel)
	}
	return KernelVersion{Major: major, Minor: minor, Release: rel}, nil
}

// RunningKernel is the kernel this process runs on.
func RunningKernel() (KernelVersion, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return KernelVersion{}, fmt.Errorf("uname: %w", err)
	}
	return ParseKernelRelease(unix.ByteSliceToString(u.Release[:]))
}

// Kernel floors, and why.
const (
	// 5.14 adds SECCOMP_ADDFD_FLAG_SEND: without it an emulated open
	// could leak an fd into the program or lose it.
	minMajor, minMinor = 5, 14
	// 5.19 adds WAIT_KILLABLE_RECV: before it a signal aborts an emulated
	// call, which the kernel restarts from scratch (and a program with a
	// periodic timer signal may never finish a slow remote call).
	goodMajor, goodMinor = 5, 19
)

// CheckKernel refuses kernels the layer cannot work on, with the reason.
func CheckKernel() (KernelVersion, error) {
	k, err := RunningKernel()
	if err != nil {
		return k, err
	}
	return k, checkKernel(k)
}

func checkKernel(k KernelVersion) error {
	if !k.AtLeast(minMajor, minMinor) {
		return fmt.Errorf("this kernel is Linux %s; mirrord needs Linux %d.%d or newer to intercept the program's system calls "+
			"(seccomp user notification with SECCOMP_ADDFD_FLAG_SEND). Run mirrord on a newer kernel, for example in a recent VM or WSL2 distribution",
			k.Release, minMajor, minMinor)
	}
	return nil
}
