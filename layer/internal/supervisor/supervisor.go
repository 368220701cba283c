package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/layer/internal/fsroute"
	"github.com/mirrord-go/mirrord/layer/internal/incoming"
	"github.com/mirrord-go/mirrord/layer/internal/netfilter"
	"github.com/mirrord-go/mirrord/layer/internal/notify"
	"github.com/mirrord-go/mirrord/layer/internal/target"
	"github.com/mirrord-go/mirrord/schema"
)

// Remote is the agent session as the supervisor uses it.
// *protocol.Client satisfies it.
type Remote interface {
	Call(ctx context.Context, kind protocol.Kind, req, resp any) error
	DialTCP(ctx context.Context, addr string) (net.Conn, error)
	DialUDP(ctx context.Context, addr string) (net.Conn, error)
	Lookup(ctx context.Context, name string) ([]netip.Addr, error)
}

// Config configures a Supervisor.
type Config struct {
	Remote   Remote
	Features schema.FeatureConfig
	// FSEnv feeds the default local and not-found path sets.
	FSEnv fsroute.Env
	// RemoteTimeout bounds each agent request made for a trapped call;
	// TimeoutKey is the config key that sets it, named in timeout errors.
	RemoteTimeout time.Duration
	TimeoutKey    string
	Logger        *slog.Logger
	// Skip lists executable names whose processes run unmodified
	// (skip_processes and the build tools); see skipper.
	Skip []string
	// LocalDNS is the nameserver ("ip:port") for the names
	// feature.network.dns.filter keeps local ("": the first nameserver of
	// this machine's /etc/resolv.conf).
	LocalDNS string
	// RemoteFS is the mounted view of the pod's files; nil means remote
	// files are served as read-only memory snapshots.
	RemoteFS TwinFS
	// Incoming delivers the target's traffic to the program's listeners
	// (nil: incoming traffic is off). Targetless sessions have none to
	// deliver; listen then only warns.
	Incoming   *incoming.Hub
	Targetless bool
}

// DefaultRemoteTimeout applies when Config.RemoteTimeout is zero.
const DefaultRemoteTimeout = 30 * time.Second

type handler func(*call)

type entry struct {
	rule notify.Rule
	h    handler
	name string
}

// Supervisor serves one listener. Create it with New, give Rules to
// whoever installs the filter, then call Serve once.
type Supervisor struct {
	cfg    Config
	log    *slog.Logger
	debug  bool
	remote Remote
	router *fsroute.Router
	out    *netfilter.Outgoing
	dnsf   *netfilter.DNS
	unixRe []*regexp.Regexp
	in     *netfilter.Incoming
	table  map[int32]entry
	extra  []notify.Rule
	skip   *skipper

	l   *notify.Listener
	ctx context.Context
	wg  sync.WaitGroup
	inj chan injectReq

	socks    sockTable
	inc      inTable
	hostname *lazy[string]
	resolv   *lazy[protocol.ResolvConf]

	warnMu sync.Mutex
	warned map[string]bool
	counts sync.Map // syscall name → *atomic.Int64
}

// New compiles the feature config into a handler table.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Remote == nil {
		return nil, errors.New("supervisor: no agent session")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RemoteTimeout <= 0 {
		cfg.RemoteTimeout = DefaultRemoteTimeout
	}
	if cfg.TimeoutKey == "" {
		cfg.TimeoutKey = "agent.communication_timeout"
	}
	router, err := fsroute.New(cfg.Features.FS, cfg.FSEnv)
	if err != nil {
		return nil, err
	}
	out, err := netfilter.New(cfg.Features.Network.Outgoing)
	if err != nil {
		return nil, err
	}
	dnsf, err := netfilter.NewDNS(cfg.Features.Network.DNS)
	if err != nil {
		return nil, err
	}
	unixRe, err := compileUnixStreams(cfg.Features.Network.Outgoing.UnixStreams)
	if err != nil {
		return nil, err
	}
	in, err := netfilter.NewIncoming(cfg.Features.Network.Incoming)
	if err != nil {
		return nil, err
	}
	if in != nil && in.Warning != "" && cfg.Incoming != nil {
		cfg.Logger.Warn(in.Warning)
	}
	s := &Supervisor{
		cfg: cfg, log: cfg.Logger, remote: cfg.Remote, router: router, out: out, dnsf: dnsf, unixRe: unixRe, in: in,

		table: map[int32]entry{}, warned: map[string]bool{},
		debug: cfg.Logger.Enabled(context.Background(), slog.LevelDebug),
	}
	s.socks.init()
	s.inc.init()
	s.skip = newSkipper(cfg.Skip)
	s.hostname = newLazy(s.fetchHostname)
	s.resolv = newLazy(s.fetchResolvConf)
	s.register()
	return s, nil
}

func (s *Supervisor) on(name string, rule notify.Rule, h handler) {
	s.table[int32(rule.Nr)] = entry{rule: rule, h: h, name: name}
}

func notifyAlways(nr int) notify.Rule { return notify.Rule{Nr: nr, Action: notify.Notify} }

// register fills the table with what the enabled features need, and
// nothing else: every trapped syscall costs a round trip (2–7 µs).
func (s *Supervisor) register() {
	f := s.cfg.Features
	s.on("probe", notifyAlways(notify.ProbeNr), func(c *call) {
		// probe(1) asks for the supervisor's pid: a preloaded bootstrap in
		// a supervised child names it with PR_SET_PTRACER, which Yama's
		// ptrace_scope=1 needs before a non-ancestor may read its memory.
		if c.arg(0) == notify.ProbeSupervisorPid {
			c.ret(int64(os.Getpid()))
			return
		}
		c.ret(notify.ProbeAnswer)
	})
	s.registerSkip()
	// io_uring submissions never pass through seccomp. Refusing the ring in
	// BPF (no round trip) makes runtimes such as libuv fall back to plain
	// syscalls, which the filter sees.
	s.extra = append(s.extra, notify.Rule{Nr: unix.SYS_IO_URING_SETUP, Action: notify.Errno, Val: uint32(unix.ENOSYS)})
	if f.Hostname {
		s.on("uname", notifyAlways(unix.SYS_UNAME), s.handleUname)
	}
	fsRemote := s.router.Mode() != schema.FSLocal
	if fsRemote || f.Network.DNS.Enabled {
		s.registerOpen()
	}
	if fsRemote {
		s.registerMeta()
	}
	if s.out.Enabled() || f.Network.DNS.Enabled || len(s.unixRe) > 0 {
		s.on("connect", notifyAlways(unix.SYS_CONNECT), s.handleConnect)
		s.on("getpeername", notifyAlways(unix.SYS_GETPEERNAME), s.handleGetpeername)
		s.on("sendto", notify.Rule{Nr: unix.SYS_SENDTO, Action: notify.NotifyIfNonNull, Arg: 4}, s.handleSendto)
		s.on("recvfrom", notify.Rule{Nr: unix.SYS_RECVFROM, Action: notify.NotifyIfNonNull, Arg: 4}, s.handleRecvfrom)
		if s.out.Enabled() {
			s.on("sendmsg", notifyAlways(unix.SYS_SENDMSG), s.handleSendmsg)
			s.on("sendmmsg", notifyAlways(unix.SYS_SENDMMSG), s.handleSendmmsg)
		}
	}
	s.registerIncoming()
}

// Rules is the filter for the processes this supervisor serves.
func (s *Supervisor) Rules() []notify.Rule {
	out := make([]notify.Rule, 0, len(s.table)+len(s.extra))
	for _, e := range s.table {
		out = append(out, e.rule)
	}
	// A stable order gives the same program on every run.
	slices.SortFunc(out, func(a, b notify.Rule) int { return a.Nr - b.Nr })
	return append(out, s.extra...)
}

// Program builds the BPF program for Rules.
func (s *Supervisor) Program() (notify.Program, error) { return notify.Build(s.Rules()) }

// Serve answers notifications on l until no process uses the filter any
// more, ctx ends, or the listener fails. It takes ownership of l: on
// return l is closed, which makes the kernel fail any later trapped call
// of a surviving process with ENOSYS instead of letting it hang. The
// returned error is nil for the first two cases.
func (s *Supervisor) Serve(ctx context.Context, l *notify.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.l, s.ctx = l, ctx
	defer l.Close()
	if err := l.SetSyncWakeup(); err != nil && s.debug {
		s.log.Debug("seccomp sync wake-up unavailable (needs Linux 6.6)", "err", err)
	}
	if err := s.startInjectors(ctx, 1); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	s.prefetch()
	if _, ok := s.table[unix.SYS_BIND]; ok {
		s.wg.Add(1)
		go s.sweepIncoming(ctx)
	}

	var err error
	for {
		n, rerr := l.Recv()
		if rerr != nil {
			if !errors.Is(rerr, notify.ErrNoTasks) && !errors.Is(rerr, notify.ErrClosed) {
				err = fmt.Errorf("the mirrord supervisor stopped: %w; from now on the program's intercepted system calls fail with ENOSYS (\"Function not implemented\")", rerr)
				s.log.Error(err.Error())
			}
			break
		}
		s.dispatch(n)
	}
	l.Close()
	cancel()
	s.wg.Wait()
	if s.skip != nil {
		s.skip.close()
	}
	s.logCounts()
	return err
}

func (s *Supervisor) prefetch() {
	if s.cfg.Features.Hostname {
		s.hostname.start(s)
	}
	if s.cfg.Features.Network.DNS.Enabled {
		s.resolv.start(s)
	}
}

func (s *Supervisor) count(name string) {
	v, ok := s.counts.Load(name)
	if !ok {
		v, _ = s.counts.LoadOrStore(name, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

func (s *Supervisor) logCounts() {
	if !s.debug {
		return
	}
	var attrs []any
	s.counts.Range(func(k, v any) bool {
		attrs = append(attrs, k.(string), v.(*atomic.Int64).Load())
		return true
	})
	s.log.Debug("notifications served", attrs...)
}

// warnOnce logs a warning the first time key is seen.
func (s *Supervisor) warnOnce(key, msg string, args ...any) {
	s.warnMu.Lock()
	seen := s.warned[key]
	s.warned[key] = true
	s.warnMu.Unlock()
	if !seen {
		s.log.Warn(msg, args...)
	}
}

func (s *Supervisor) dispatch(n notify.Notif) {
	e, ok := s.table[n.Data.Nr]
	c := &call{s: s, n: n, name: e.name}
	c.p = target.Proc{TID: int(n.Pid), Valid: c.valid}
	if s.interceptSkip(c) {
		return
	}
	if !ok {
		c.cont()
		return
	}
	s.count(e.name)
	defer c.recoverPanic()
	e.h(c)
}

// call is one trapped syscall. Exactly one of cont, ret, fail or inject
// answers it; after target.ErrGone nothing needs to.
type call struct {
	s    *Supervisor
	n    notify.Notif
	p    target.Proc
	name string
}

func (c *call) arg(i int) uint64 { return c.n.Data.Args[i] }

func (c *call) valid() error { return c.s.l.Valid(c.n.ID) }

func (c *call) cont() {
	if err := c.s.l.Continue(c.n.ID); err != nil {
		c.answerFailed(err)
	}
}

func (c *call) ret(v int64) {
	if err := c.s.l.Return(c.n.ID, v); err != nil {
		c.answerFailed(err)
	}
}

// fail answers with the errno that err carries (or def).
func (c *call) fail(err error, def unix.Errno) {
	if errors.Is(err, target.ErrGone) {
		return
	}
	if e := c.s.l.Fail(c.n.ID, errnoOf(err, def)); e != nil {
		c.answerFailed(e)
	}
}

func (c *call) failErrno(e unix.Errno) {
	if err := c.s.l.Fail(c.n.ID, e); err != nil {
		c.answerFailed(err)
	}
}

// answerFailed: ENOENT means the caller stopped waiting (a signal, or it
// died); that is normal. Anything else is logged.
func (c *call) answerFailed(err error) {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, notify.ErrClosed) {
		return
	}
	c.s.log.Warn("answering a trapped call failed", "syscall", c.name, "tid", c.n.Pid, "err", err)
}

func (c *call) recoverPanic() {
	if r := recover(); r != nil {
		c.s.log.Error("internal error in the supervisor; the call runs unmodified", "syscall", c.name, "panic", r, "stack", string(debug.Stack()))
		c.cont()
	}
}

// async runs f in a goroutine owned by Serve, for handlers that wait on
// the agent. ctx ends with Serve.
func (c *call) async(f func(ctx context.Context)) {
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		defer c.recoverPanic()
		f(c.s.ctx)
	}()
}

// remoteCtx bounds one agent request.
func (c *call) remoteCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.s.cfg.RemoteTimeout)
}

// logRemoteErr logs a failed agent request; a timeout names the config
// key that sets the limit.
func (c *call) logRemoteErr(what string, err error) {
	if errors.Is(err, context.DeadlineExceeded) {
		c.s.log.Warn(what+" timed out", "after", c.s.cfg.RemoteTimeout, "config", c.s.cfg.TimeoutKey)
		return
	}
	if c.s.debug {
		c.s.log.Debug(what+" failed", "err", err)
	}
}

// errnoOf maps an agent or local error to the errno the program sees.
func errnoOf(err error, def unix.Errno) unix.Errno {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		if e, ok := pe.AsErrno(); ok {
			return unix.Errno(e)
		}
		switch pe.Code {
		case protocol.CodeNotFound:
			return unix.ENOENT
		case protocol.CodePermission:
			return unix.EACCES
		case protocol.CodeUnsupported:
			return unix.ENOSYS
		}
		return def
	}
	var en unix.Errno
	if errors.As(err, &en) {
		return en
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return unix.ETIMEDOUT
	}
	return def
}

// unsupported reports whether the agent does not serve a request kind
// (an older agent, or fs.* before the agent implements it).
func unsupported(err error) bool {
	var pe *protocol.Error
	return errors.As(err, &pe) && pe.Code == protocol.CodeUnsupported
}

// lazy fetches a value from the agent once, in the background, and lets
// handlers either use it at once when ready or wait for it off the loop.
type lazy[T any] struct {
	fetch func(context.Context) (T, error)
	once  sync.Once
	done  chan struct{}
	v     T
	err   error
}

func newLazy[T any](fetch func(context.Context) (T, error)) *lazy[T] {
	return &lazy[T]{fetch: fetch, done: make(chan struct{})}
}

func (z *lazy[T]) start(s *Supervisor) {
	z.once.Do(func() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer close(z.done)
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RemoteTimeout)
			defer cancel()
			z.v, z.err = z.fetch(ctx)
		}()
	})
}

// ready returns the value if it has been fetched.
func (z *lazy[T]) ready() (T, error, bool) {
	select {
	case <-z.done:
		return z.v, z.err, true
	default:
		var zero T
		return zero, nil, false
	}
}

// get waits for the value (call it off the notification loop).
func (z *lazy[T]) get(ctx context.Context, s *Supervisor) (T, error) {
	z.start(s)
	select {
	case <-z.done:
		return z.v, z.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
