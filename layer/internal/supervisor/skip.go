package supervisor

import (
	"bytes"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/layer/internal/notify"
)

// skipper implements skip_processes: a process whose executable name (or
// the basename of its argv[0]) is in the list runs unmodified: every call
// it makes is answered CONTINUE. The decision belongs to the process
// image, as upstream's per-image layer load does: a forked child shares
// it, and an execve decides again for the new program (so `go run .`
// skips the go tool but not the program it builds and starts).
//
// The filter cannot be taken off a process, so skipping costs one round
// trip per trapped call; execve is trapped to know when an image changes.
// Processes are cached by thread group with a pidfd, so a reused pid is
// never taken for the process that had it before.
type skipper struct {
	names    map[string]bool
	patterns []string

	mu      sync.Mutex
	procs   map[int]*skipProc // by tgid
	threads map[int]int       // non-leader tid → tgid
}

type skipProc struct {
	pidfd   int
	skipped bool
}

// sweepAt bounds the cache: past it, entries of dead processes go.
const sweepAt = 512

func newSkipper(names []string) *skipper {
	if len(names) == 0 {
		return nil
	}
	k := &skipper{names: map[string]bool{}, procs: map[int]*skipProc{}, threads: map[int]int{}}
	for _, n := range names {
		if strings.ContainsAny(n, "*?[") {
			k.patterns = append(k.patterns, n)
		} else {
			k.names[n] = true
		}
	}
	return k
}

func (k *skipper) match(name string) bool {
	if name == "" {
		return false
	}
	if k.names[name] {
		return true
	}
	for _, p := range k.patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func alive(pidfd int) bool {
	pf := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(pf, 0)
	return err == nil && n == 0
}

// skipped reports whether thread tid belongs to a skipped process image.
func (k *skipper) skipped(tid int) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if p := k.procs[tid]; p != nil && alive(p.pidfd) {
		return p.skipped
	}
	if g, ok := k.threads[tid]; ok {
		if p := k.procs[g]; p != nil && alive(p.pidfd) && taskOf(g, tid) {
			return p.skipped
		}
		delete(k.threads, tid)
	}
	g, err := tgidOf(tid)
	if err != nil {
		return false
	}
	p := k.procs[g]
	if p == nil || !alive(p.pidfd) {
		if p != nil {
			unix.Close(p.pidfd)
		}
		if p = k.load(g); p == nil {
			return false
		}
		if len(k.procs) >= sweepAt {
			k.sweep()
		}
		k.procs[g] = p
	}
	if g != tid {
		k.threads[tid] = g
	}
	return p.skipped
}

// load reads the image of process g.
func (k *skipper) load(g int) *skipProc {
	fd, err := unix.PidfdOpen(g, 0)
	if err != nil {
		return nil
	}
	dir := "/proc/" + strconv.Itoa(g)
	exe, _ := os.Readlink(dir + "/exe")
	exe = strings.TrimSuffix(exe, " (deleted)")
	var argv0 string
	if b, err := os.ReadFile(dir + "/cmdline"); err == nil {
		first, _, _ := bytes.Cut(b, []byte{0})
		argv0 = string(first)
	}
	return &skipProc{pidfd: fd, skipped: k.match(path.Base(exe)) || k.match(path.Base(argv0))}
}

// forget drops what is known about tid's process: it is about to execve.
func (k *skipper) forget(tid int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	g := tid
	if t, ok := k.threads[tid]; ok {
		g = t
		delete(k.threads, tid)
	} else if _, ok := k.procs[tid]; !ok {
		if t, err := tgidOf(tid); err == nil {
			g = t
		}
	}
	if p := k.procs[g]; p != nil {
		unix.Close(p.pidfd)
		delete(k.procs, g)
	}
}

func (k *skipper) sweep() {
	for g, p := range k.procs {
		if !alive(p.pidfd) {
			unix.Close(p.pidfd)
			delete(k.procs, g)
		}
	}
	for t, g := range k.threads {
		if k.procs[g] == nil {
			delete(k.threads, t)
		}
	}
}

func (k *skipper) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for g, p := range k.procs {
		unix.Close(p.pidfd)
		delete(k.procs, g)
	}
	clear(k.threads)
}

func taskOf(g, tid int) bool {
	var st unix.Stat_t
	return unix.Stat("/proc/"+strconv.Itoa(g)+"/task/"+strconv.Itoa(tid), &st) == nil
}

func tgidOf(tid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return 0, err
	}
	_, rest, ok := bytes.Cut(b, []byte("\nTgid:"))
	if !ok {
		return 0, os.ErrNotExist
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	return strconv.Atoi(string(bytes.TrimSpace(line)))
}

// registerSkip traps execve when processes may be skipped: an image
// change re-decides. The handler only runs for processes that are not
// skipped; interceptSkip handles the rest first.
func (s *Supervisor) registerSkip() {
	if s.skip == nil {
		return
	}
	s.on("execve", notifyAlways(unix.SYS_EXECVE), func(c *call) { c.cont() })
	s.on("execveat", notifyAlways(unix.SYS_EXECVEAT), func(c *call) { c.cont() })
}

// interceptSkip answers the call when skip_processes decides it: an
// execve forgets the process's image; a skipped process's calls run
// unmodified, except the probe, which must keep telling a preloaded
// bootstrap that the process is supervised already.
func (s *Supervisor) interceptSkip(c *call) bool {
	if s.skip == nil {
		return false
	}
	tid := int(c.n.Pid)
	switch int(c.n.Data.Nr) {
	case notify.ProbeNr:
		return false
	case unix.SYS_EXECVE, unix.SYS_EXECVEAT:
		s.skip.forget(tid)
		c.cont()
		return true
	}
	if s.skip.skipped(tid) {
		s.count("skipped")
		c.cont()
		return true
	}
	return false
}
