package layer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/layer/bootstrap"
	"github.com/mirrord-go/mirrord/layer/internal/fsroute"
	"github.com/mirrord-go/mirrord/layer/internal/notify"
	"github.com/mirrord-go/mirrord/layer/internal/supervisor"
	"github.com/mirrord-go/mirrord/schema"
)

// Env variables that make a process join a Server (read by the bootstrap).
const (
	EnvSocket  = "MIRRORD_LAYER_SOCKET"
	EnvToken   = "MIRRORD_LAYER_TOKEN"
	EnvOnError = "MIRRORD_LAYER_ON_ERROR"
)

// Defaults for ServeOptions.
const (
	DefaultStartTimeout = 60 * time.Second
	DefaultGrace        = 5 * time.Second
	// handshakeTimeout bounds one process's join; the bootstrap answers at
	// once, so this only trips on a wedged or foreign client.
	handshakeTimeout = 10 * time.Second
)

// ErrNoProcessJoined is returned by Serve when no process joined within
// the start timeout.
var ErrNoProcessJoined = errors.New("no process joined the session")

// ServeOptions configure a Server.
type ServeOptions struct {
	// Session is the agent session.
	Session Remote
	// Features selects what is taken from the pod.
	Features schema.FeatureConfig
	// Skip lists executable names whose processes run unmodified
	// (see SkipNames).
	Skip []string
	// Dir holds the session's socket and the extracted bootstrap
	// ("": the user's runtime directory, see bootstrap.RuntimeDir).
	Dir string
	// StartTimeout ends Serve with ErrNoProcessJoined when no process
	// joined by then (0: DefaultStartTimeout). StartTimeoutKey names the
	// setting in that error.
	StartTimeout    time.Duration
	StartTimeoutKey string
	// Grace is how long Serve waits for a new process after the last
	// supervised process exited (0: DefaultGrace).
	Grace time.Duration
	// RemoteTimeout bounds each agent request made for a program
	// (agent.communication_timeout); 0 means 30 s.
	RemoteTimeout time.Duration
	Logger        *slog.Logger
	// BootstrapPath is the bootstrap object to preload ("": the one
	// embedded in this binary, extracted into Dir).
	BootstrapPath string
	// OnJoin, when set, is called for each process that joins, with its pid.
	OnJoin func(pid int)
	// OnLive, when set, is called with the number of supervised process
	// trees whenever it changes (0: every process that joined has exited).
	OnLive func(live int)
	// LocalDNS is the nameserver ("ip:port") for names that
	// feature.network.dns.filter keeps local ("": the first nameserver of
	// this machine's /etc/resolv.conf).
	LocalDNS string
	// Incoming and Targetless: as in ExecOptions.
	Incoming   *Incoming
	Targetless bool
}

// Server is launch model (b): it listens on a unix socket for processes
// whose preloaded bootstrap (Env) asks to join, and supervises each such
// process tree with the same supervisor as Exec. Create it with Listen,
// hand Env to whoever launches programs, then call Serve.
type Server struct {
	o       ServeOptions
	log     *slog.Logger
	ln      *net.UnixListener
	sockDir string
	sock    string
	token   string
	boot    string

	mu      sync.Mutex
	live    int
	joined  int
	roots   map[int]bool // pids that joined and whose tree is supervised
	changed chan struct{}
	supCtx  context.Context // set by Serve: ends the supervisors
	// twins is the remote file system, mounted by Serve for its lifetime
	// (nil: none, remote files are read-only snapshots).
	twins supervisor.TwinFS
}

// Listen checks the kernel, extracts the bootstrap and creates the
// session's socket.
func Listen(o ServeOptions) (_ *Server, err error) {
	if o.Session == nil {
		return nil, errors.New("mirrord runner: no agent session")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	k, err := CheckKernel()
	if err != nil {
		return nil, err
	}
	if !k.AtLeast(goodMajor, goodMinor) {
		log.Warn(fmt.Sprintf("Linux %s is older than %d.%d: a signal that arrives while mirrord emulates a call makes the call start over", k.Release, goodMajor, goodMinor))
	}
	// Compile the config once up front, so that a bad filter is an error
	// here and not in every process that joins.
	if _, err := newSupervisor(o, log, fsroute.Env{}, nil); err != nil {
		return nil, err
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = bootstrap.RuntimeDir(); err != nil {
			return nil, err
		}
	}
	boot := o.BootstrapPath
	if boot == "" {
		if boot, err = bootstrap.Extract(dir); err != nil {
			return nil, err
		}
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("making the session token: %w", err)
	}
	// A private directory per session: the socket's path is unguessable and
	// only this user can reach it.
	sockDir, err := os.MkdirTemp(dir, "session-")
	if err != nil {
		return nil, fmt.Errorf("creating the session directory in %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(sockDir)
		}
	}()
	sock := filepath.Join(sockDir, "layer.sock")
	if len(sock) >= 108 {
		return nil, fmt.Errorf("the session socket path %s is longer than a unix socket path may be (107 bytes); set XDG_RUNTIME_DIR to a shorter directory", sock)
	}
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("listening on the session socket %s: %w", sock, err)
	}
	ln.SetUnlinkOnClose(true)
	return &Server{
		o: o, log: log, ln: ln, sockDir: sockDir, sock: sock, token: hex.EncodeToString(tok), boot: boot,
		changed: make(chan struct{}, 1), roots: map[int]bool{},
	}, nil
}

// Env is what a launched program's environment needs to join the session:
// LD_PRELOAD with the bootstrap in front of preload (the launch env's own
// LD_PRELOAD, kept), the socket and the token.
func (s *Server) Env(preload string) map[string]string {
	p := s.boot
	if preload != "" {
		p += ":" + preload
	}
	return map[string]string{"LD_PRELOAD": p, EnvSocket: s.sock, EnvToken: s.token}
}

// Socket is the path processes join on.
func (s *Server) Socket() string { return s.sock }

// Live is the number of process trees being supervised.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

func (s *Server) adjust(pid, delta int) {
	s.mu.Lock()
	s.live += delta
	if delta > 0 {
		s.joined++
		s.roots[pid] = true
	} else {
		delete(s.roots, pid)
	}
	live := s.live
	s.mu.Unlock()
	if s.o.OnLive != nil {
		s.o.OnLive(live)
	}
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *Server) counts() (live, joined int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live, s.joined
}

// Serve accepts processes until ctx ends, every supervised process tree
// has exited and Grace has passed without a new one (nil), or no process
// joined within StartTimeout (ErrNoProcessJoined). On return the socket
// is removed and supervision has stopped: processes still running get
// ENOSYS from the calls mirrord intercepts.
func (s *Server) Serve(ctx context.Context) error {
	// The mount lives in this process's mount namespace, which need not
	// be the programs': the supervisors open files there and inject the
	// fds, so programs see the pod's files wherever they run.
	twins, unmount := mountRemoteFS(s.o.Session, s.o.Features.FS, s.o.RemoteTimeout, s.log)
	defer unmount()
	s.twins = twins
	// The supervisors stop only after tellEnded has found their processes.
	supCtx, supCancel := context.WithCancel(context.WithoutCancel(ctx))
	s.supCtx = supCtx
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		supCancel()
		s.ln.Close()
		wg.Wait()
		os.RemoveAll(s.sockDir)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.acceptLoop(ctx, &wg)
	}()

	startTimeout := cmp(s.o.StartTimeout, DefaultStartTimeout)
	grace := cmp(s.o.Grace, DefaultGrace)
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			s.tellEnded(context.Cause(ctx))
			return context.Cause(ctx)
		case <-s.changed:
			live, joined := s.counts()
			timer.Stop()
			if live == 0 && joined > 0 {
				timer.Reset(grace)
			}
		case <-timer.C:
			live, joined := s.counts()
			switch {
			case joined == 0:
				key := s.o.StartTimeoutKey
				if key == "" {
					key = "the start timeout"
				}
				return fmt.Errorf("%w within %s (set by %s); start the program with the session's environment sooner, or raise it", ErrNoProcessJoined, startTimeout, key)
			case live == 0:
				return nil
			}
		}
	}
}

func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (s *Server) acceptLoop(ctx context.Context, wg *sync.WaitGroup) {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("the session socket stopped accepting processes", "socket", s.sock, "err", err)
			}
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.join(ctx, c, wg)
		}()
	}
}

// Wire messages; see layer/bootstrap/c/bootstrap.c.
const (
	helloMagic = "MRD1"
	msgFilter  = 'F'
	msgFailed  = 'E'
	msgLstn    = 'L'
	msgAck     = 'A' // also to the trampoline: listener taken
)

// join runs the handshake with one bootstrapped process and, on success,
// supervises its tree in a goroutine owned by wg.
func (s *Server) join(ctx context.Context, c *net.UnixConn, wg *sync.WaitGroup) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	pid, err := peerPid(c)
	if err != nil {
		s.log.Warn("a process tried to join the session, but its pid is unknown", "err", err)
		return
	}
	log := s.log.With("pid", pid)
	refuse := func(msg string) {
		log.Warn("refused a process", "reason", msg)
		_, _ = c.Write(append([]byte{msgFailed}, msg...))
	}
	buf := make([]byte, 512)
	n, err := c.Read(buf)
	if err != nil {
		log.Warn("a process connected to the session socket but sent nothing", "err", err)
		return
	}
	hello := buf[:n]
	if !bytes.HasPrefix(hello, []byte(helloMagic)) ||
		subtle.ConstantTimeCompare(hello[len(helloMagic):], []byte(s.token)) != 1 {
		refuse("its " + EnvToken + " is not this session's (a stale environment from an earlier session?)")
		return
	}
	sup, err := newSupervisor(s.o, log, procEnv(pid), s.twins)
	if err != nil {
		refuse(err.Error())
		return
	}
	prog, err := sup.Program()
	if err != nil {
		refuse(err.Error())
		return
	}
	msg := binary.NativeEndian.AppendUint64([]byte{msgFilter}, uint64(notify.FlagWaitKillable))
	if _, err := c.Write(append(msg, prog.Marshal()...)); err != nil {
		log.Warn("sending the filter to a joining process failed", "err", err)
		return
	}
	n, err = c.Read(buf)
	if err != nil || n == 0 {
		log.Warn("a joining process went away before handing over its seccomp listener", "err", err)
		return
	}
	if buf[0] != msgLstn {
		log.Warn("a joining process did not hand over a seccomp listener", "message", string(buf[:n]))
		return
	}
	l, flags, err := takeListener(pid, buf[:n])
	if err != nil {
		refuse(err.Error())
		return
	}
	if flags&uint64(notify.FlagWaitKillable) == 0 {
		log.Debug("seccomp filter installed without WAIT_KILLABLE_RECV")
	}
	s.adjust(pid, +1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer s.adjust(pid, -1)
		if err := sup.Serve(s.supCtx, l); err != nil {
			log.Error("supervising a process tree failed", "err", err)
		}
		log.Debug("process tree ended")
	}()
	if _, err := c.Write([]byte{msgAck}); err != nil {
		log.Warn("acknowledging a joined process failed", "err", err)
	}
	log.Debug("process joined")
	if s.o.OnJoin != nil {
		s.o.OnJoin(pid)
	}
}

func newSupervisor(o ServeOptions, log *slog.Logger, env fsroute.Env, twins supervisor.TwinFS) (*supervisor.Supervisor, error) {
	return supervisor.New(supervisor.Config{
		RemoteFS:      twins,
		Remote:        o.Session,
		Features:      o.Features,
		Skip:          o.Skip,
		LocalDNS:      o.LocalDNS,
		FSEnv:         env,
		RemoteTimeout: o.RemoteTimeout,
		Logger:        log,
		Incoming:      o.Incoming.hubOrNil(),
		Targetless:    o.Targetless,
	})
}

func peerPid(c *net.UnixConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Pid), nil
}

// procEnv is what the fs router needs to know about a joining process:
// its home, working directory, executable and temp dir stay local.
func procEnv(pid int) fsroute.Env {
	dir := "/proc/" + strconv.Itoa(pid)
	var e fsroute.Env
	e.Cwd, _ = os.Readlink(dir + "/cwd")
	e.Exe, _ = os.Readlink(dir + "/exe")
	if b, err := os.ReadFile(dir + "/environ"); err == nil {
		for _, kv := range bytes.Split(b, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("HOME=")); ok {
				e.Home = string(v)
			} else if v, ok := bytes.CutPrefix(kv, []byte("TMPDIR=")); ok {
				e.TmpDir = string(v)
			}
		}
	}
	return e
}

// tellEnded writes one line to the stderr of every process that joined
// and still runs, when the session stops under it: from now on the calls
// mirrord intercepts fail with ENOSYS, and the line says why.
func (s *Server) tellEnded(cause error) {
	s.mu.Lock()
	pids := make([]int, 0, len(s.roots))
	for pid := range s.roots {
		pids = append(pids, pid)
	}
	s.mu.Unlock()
	why := "it was stopped"
	if cause != nil && !errors.Is(cause, context.Canceled) {
		why = cause.Error()
	}
	msg := []byte("mirrord: the mirrord session this program runs in ended (" + why +
		"); from now on its file, network and DNS calls that mirrord serves fail with \"Function not implemented\"\n")
	for _, pid := range pids {
		pfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		fd, err := unix.PidfdGetfd(pfd, 2, 0)
		unix.Close(pfd)
		if err != nil {
			continue
		}
		_, _ = unix.Write(fd, msg)
		unix.Close(fd)
	}
}
