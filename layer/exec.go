package layer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/layer/internal/fsroute"
	"github.com/mirrord-go/mirrord/layer/internal/notify"
	"github.com/mirrord-go/mirrord/layer/internal/supervisor"
	"github.com/mirrord-go/mirrord/schema"
)

// Stdio is the program's standard streams; nil ones are this process's.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// ExecOptions configure Exec.
type ExecOptions struct {
	// Argv is the program and its arguments; Argv[0] is looked up in the
	// PATH of Env, as execvp does with the program's environment.
	Argv []string
	// Env is the program's environment (nil: this process's).
	Env []string
	// Dir is the program's working directory ("": this process's).
	Dir string
	// Session is the agent session.
	Session Remote
	// Features selects what is taken from the pod (fs, network, hostname).
	Features schema.FeatureConfig
	// Skip lists executable names whose processes run unmodified
	// (SkipNames).
	Skip   []string
	Stdio  Stdio
	Logger *slog.Logger
	// RemoteTimeout bounds each agent request made for the program
	// (agent.communication_timeout); 0 means 30 s.
	RemoteTimeout time.Duration
	// Linger is how long supervision goes on after the program exits,
	// for children it left running (default 1 s). They keep running
	// afterwards, but their intercepted calls fail with ENOSYS.
	Linger time.Duration
	// Self is the binary to re-execute as the trampoline (default: this
	// executable). Tests set it to a binary whose main calls
	// TrampolineMain.
	Self string
	// Incoming delivers the target's traffic to the program's listeners
	// (nil: none is delivered); Targetless says there is no target, so
	// listening only warns.
	Incoming   *Incoming
	Targetless bool
	// Signals are passed on to the program (default SIGINT and SIGTERM).
	// A caller whose program shares the terminal's process group leaves
	// SIGINT out: Ctrl-C already reaches the program, and must not twice.
	Signals []os.Signal
}

// Exec runs the program under the supervisor and returns its exit code
// (128+n when a signal n killed it, as shells report). SIGINT and SIGTERM
// sent to mirrord are forwarded to the program. The error is non-nil when
// the program could not be started under supervision, or when the
// supervisor failed while it ran (the program then saw ENOSYS from the
// calls mirrord intercepts).
func Exec(ctx context.Context, o ExecOptions) (exitCode int, err error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(o.Argv) == 0 {
		return -1, errors.New("mirrord exec: no program given")
	}
	if o.Session == nil {
		return -1, errors.New("mirrord exec: no agent session")
	}
	k, err := CheckKernel()
	if err != nil {
		return -1, err
	}
	if !k.AtLeast(goodMajor, goodMinor) {
		log.Warn(fmt.Sprintf("Linux %s is older than %d.%d: a signal that arrives while mirrord emulates a call makes the call start over", k.Release, goodMajor, goodMinor))
	}
	env := o.Env
	if env == nil {
		env = os.Environ()
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.Getwd(); err != nil {
			return -1, fmt.Errorf("mirrord exec: reading the working directory: %w", err)
		}
	}
	path, err := lookPath(o.Argv[0], getenv(env, "PATH"), dir)
	if err != nil {
		return -1, err
	}
	twins, unmount := mountRemoteFS(o.Session, o.Features.FS, o.RemoteTimeout, log)
	defer unmount()
	sup, err := supervisor.New(supervisor.Config{
		Remote:        o.Session,
		Features:      o.Features,
		FSEnv:         fsroute.Env{Home: getenv(env, "HOME"), Cwd: dir, Exe: path, TmpDir: getenv(env, "TMPDIR")},
		RemoteTimeout: o.RemoteTimeout,
		Logger:        log,
		Skip:          o.Skip,
		RemoteFS:      twins,
		Incoming:      o.Incoming.hubOrNil(),
		Targetless:    o.Targetless,
	})
	if err != nil {
		return -1, fmt.Errorf("mirrord exec: %w", err)
	}
	prog, err := sup.Program()
	if err != nil {
		return -1, fmt.Errorf("mirrord exec: %w", err)
	}
	self := o.Self
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return -1, fmt.Errorf("mirrord exec: finding the mirrord binary to re-execute: %w", err)
		}
	}
	l, cmd, err := startTrampoline(self, path, o, env, dir, prog, log)
	if err != nil {
		return -1, err
	}
	stopSignals := forwardSignals(cmd.Process, o.Signals)
	defer stopSignals()

	serveCtx, cancelServe := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelServe()
	serveDone := make(chan error, 1)
	if l != nil {
		go func() { serveDone <- sup.Serve(serveCtx, l) }()
	} else {
		close(serveDone)
	}
	waitErr := waitProgram(ctx, cmd)
	linger := o.Linger
	if linger <= 0 {
		linger = time.Second
	}
	var serveErr error
	select {
	case serveErr = <-serveDone:
	case <-time.After(linger):
		cancelServe()
		serveErr = <-serveDone
	}
	code := exitCodeOf(cmd)
	if waitErr != nil && code < 0 {
		return code, fmt.Errorf("mirrord exec: waiting for %s: %w", o.Argv[0], waitErr)
	}
	return code, serveErr
}

// startTrampoline re-executes self as the trampoline, sends it the filter
// and receives the listener. l is nil when the program turned out to be
// supervised already (a mirrord exec inside a mirrord session: the outer
// supervisor serves it).
func startTrampoline(self, path string, o ExecOptions, env []string, dir string, prog notify.Program, log *slog.Logger) (*notify.Listener, *exec.Cmd, error) {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("mirrord exec: creating the trampoline socket pair: %w", err)
	}
	ours := os.NewFile(uintptr(sp[0]), "mirrord-trampoline")
	defer ours.Close()
	theirs := os.NewFile(uintptr(sp[1]), "mirrord-trampoline-child")
	cmd := exec.Command(self, append([]string{TrampolineMarker, path}, o.Argv...)...)
	cmd.Args[0] = o.Argv[0]
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdio.In, o.Stdio.Out, o.Stdio.Err
	if cmd.Stdin == nil {
		cmd.Stdin = os.Stdin
	}
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.ExtraFiles = []*os.File{theirs} // fd 3 in the trampoline
	// A child the program left running may hold the output pipes open;
	// do not wait for it past the linger time.
	cmd.WaitDelay = max(o.Linger, time.Second)
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("mirrord exec: starting %s: %w", self, err)
	}
	fail := func(err error) (*notify.Listener, *exec.Cmd, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, nil, err
	}
	msg := binary.NativeEndian.AppendUint64(nil, uint64(notify.FlagWaitKillable))
	if _, err := unix.Write(sp[0], append(msg, prog.Marshal()...)); err != nil {
		return fail(fmt.Errorf("mirrord exec: sending the filter to the trampoline: %w", err))
	}
	buf := make([]byte, 4096)
	n, err := unix.Read(sp[0], buf)
	if err != nil || n == 0 {
		return fail(fmt.Errorf("mirrord exec: the trampoline (%s) exited before handing over the seccomp listener (%v); "+
			"is %s a mirrord binary that handles %s?", self, err, self, TrampolineMarker))
	}
	switch string(buf[:1]) {
	case msgSupervised:
		log.Warn("this process is already supervised by mirrord; the outer session serves the program")
		return nil, cmd, nil
	case msgError:
		return fail(fmt.Errorf("mirrord exec: %s", buf[1:n]))
	case msgListener:
	default:
		return fail(fmt.Errorf("mirrord exec: unexpected message %q from the trampoline", buf[:1]))
	}
	l, flags, err := takeListener(cmd.Process.Pid, buf[:n])
	if err != nil {
		_, _ = unix.Write(sp[0], []byte(msgError+err.Error()))
		return fail(fmt.Errorf("mirrord exec: %w", err))
	}
	if flags&uint64(notify.FlagWaitKillable) == 0 {
		log.Debug("seccomp filter installed without WAIT_KILLABLE_RECV")
	}
	if _, err := unix.Write(sp[0], []byte{msgAck}); err != nil {
		l.Close()
		return fail(fmt.Errorf("mirrord exec: acknowledging the seccomp listener: %w", err))
	}
	return l, cmd, nil
}

// waitProgram waits for the program; when ctx ends first the program is
// asked to stop (SIGTERM) and killed 5 s later.
func waitProgram(ctx context.Context, cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		return <-done
	}
}

// forwardSignals passes sigs (default SIGINT and SIGTERM) to the program
// until stopped.
func forwardSignals(p *os.Process, sigs []os.Signal) (stop func()) {
	if len(sigs) == 0 {
		sigs = []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case s := <-ch:
				_ = p.Signal(s)
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
		<-finished
	}
}

func exitCodeOf(cmd *exec.Cmd) int {
	st := cmd.ProcessState
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

func getenv(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// lookPath finds the program as execvp would with the program's PATH,
// before the filter exists, so that a typo is a clear error and not a
// failed exec after supervision started.
func lookPath(name, pathEnv, dir string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", fmt.Errorf("mirrord exec: %s: %w", name, err)
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("mirrord exec: program %q not found in the program's PATH (%s)", name, pathEnv)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("is a directory")
	}
	if err := unix.Access(p, unix.X_OK); err != nil {
		return fmt.Errorf("not executable: %w", err)
	}
	return nil
}
