package daemon

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mirrord-go/mirrord/daemon/api"
)

// Each session runs in its own `mirrord runner` child: a crash in one
// session (or in the supervisor it hosts) never takes the daemon down, and
// the runner's stdin is a pipe from the daemon, so a daemon that dies
// takes its runners (and their agents) with it.

// SessionOptions configure session runners. The zero value runs this
// binary's `runner` subcommand with a 30 s warm TTL.
type SessionOptions struct {
	// Runner is the command that runs one session; the daemon adds the
	// runner's flags. nil means this executable with "runner".
	Runner []string
	// WarmTTL is how long a stopped session's runner (and its agent) is
	// kept for a start with the same target, config and env; 0 means 30 s,
	// negative disables reuse.
	WarmTTL time.Duration
	// StartTimeout ends a session that no process joined; 0 means 60 s,
	// as upstream's ext.
	StartTimeout time.Duration
}

const (
	defaultWarmTTL      = 30 * time.Second
	defaultStartTimeout = 60 * time.Second
	// stopWait is how long a stopped runner gets to delete its agent
	// before it is killed.
	stopWait = 15 * time.Second
)

// Session states, as sessions/list reports them.
const (
	stateStarting = "starting"
	stateRunning  = "running"
	stateWarm     = "warm"
)

// sessions owns the session runners.
type sessions struct {
	s    *Server
	opts SessionOptions

	mu   sync.Mutex
	byID map[string]*session
	wg   sync.WaitGroup // one waiter per runner
}

// session is one runner. Its fields after the mutex are guarded by
// sessions.mu.
type session struct {
	key     string
	first   string // the first session id, for logs
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	started time.Time
	exited  chan struct{} // closed by the waiter

	id     string
	state  string
	result api.RunnerResult
	warm   *time.Timer
	// stopped records that a client asked for the stop, so the ended
	// notice says so instead of guessing from the exit code.
	stopped bool
	// lastErr is the runner's last error line on stderr.
	lastErr string
	// live is the runner's count of supervised process trees, joined
	// whether any ever joined: a session whose processes all exited is
	// idle and may be handed to the next start with the same key.
	live      int
	joined    bool
	idleSince time.Time
	warnings  []string
	// readyCh is closed when the runner's stderr says its start is over
	// (every progress line before it has been relayed).
	ready   bool
	readyCh chan struct{}
	// progress relays the runner's steps while it starts; nil after.
	progress func(api.ProgressValue)
	results  chan api.RunnerResult
}

func newSessions(s *Server, opts SessionOptions) *sessions {
	if opts.WarmTTL == 0 {
		opts.WarmTTL = defaultWarmTTL
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
	}
	return &sessions{s: s, opts: opts, byID: map[string]*session{}}
}

func init() {
	handle(api.SessionsStart, func(c *conn, ctx context.Context, p *api.SessionsStartParams) (api.SessionsStartResult, error) {
		return c.s.sess.start(ctx, c, p)
	})
	handle(api.SessionsStop, func(c *conn, _ context.Context, p *api.SessionsStopParams) (*api.Empty, error) {
		return nil, c.s.sess.stop(p.SessionID)
	})
	handle(api.SessionsList, func(c *conn, _ context.Context, _ *api.Empty) (api.SessionsListResult, error) {
		return c.s.sess.list(), nil
	})
}

// live counts the sessions that keep the daemon up (warm ones included:
// their agents are the daemon's to clean up).
func (ss *sessions) live() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.byID)
}

func (ss *sessions) list() api.SessionsListResult {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	out := api.SessionsListResult{Sessions: []api.Session{}}
	for _, se := range ss.byID {
		state := se.state
		if state == stateRunning && se.joined && se.live == 0 {
			state = stateWarm // its processes exited: the next start may reuse it
		}
		out.Sessions = append(out.Sessions, api.Session{SessionID: se.id, Target: se.result.Target, Pid: se.cmd.Process.Pid,
			StartedAt: se.started.UTC().Format(time.RFC3339), State: state})
	}
	slices.SortFunc(out.Sessions, func(a, b api.Session) int { return strings.Compare(a.StartedAt+a.SessionID, b.StartedAt+b.SessionID) })
	return out
}

// reuseKey identifies what a runner was started for: the same config
// (by content, so an edit means a new agent), target, namespace, launch
// env and directory give the same session.
func reuseKey(p *api.SessionsStartParams) string {
	h := sha256.New()
	var cfg []byte
	if p.ConfigPath != "" {
		cfg, _ = os.ReadFile(p.ConfigPath)
	}
	env, _ := json.Marshal(p.LaunchEnv) // map keys are sorted
	for _, part := range [][]byte{[]byte(p.ConfigPath), cfg, []byte(p.Target), []byte(p.Namespace), env, []byte(p.Cwd)} {
		fmt.Fprintf(h, "%d:", len(part))
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func newSessionID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "s-" + hex.EncodeToString(b)
}

// start reuses a warm runner for the same key, or starts one and waits
// for its result, relaying its progress to c.
func (ss *sessions) start(ctx context.Context, c *conn, p *api.SessionsStartParams) (api.SessionsStartResult, error) {
	key := reuseKey(p)
	if r, ok := ss.reuse(key); ok {
		slog.Info("session reused a warm runner", "session", r.SessionID, "client", c.id)
		return r, nil
	}
	id := newSessionID()
	token := p.WorkDoneToken
	if token == "" {
		token = id
	}
	prog := func(v api.ProgressValue) {
		c.notify(context.Background(), api.Progress.Name, api.ProgressParams{Token: token, Value: v})
	}
	prog(api.ProgressValue{Kind: "begin", Title: "mirrord: starting the session"})
	se, err := ss.spawn(id, key, p)
	if err != nil {
		prog(api.ProgressValue{Kind: "end", Message: err.Error()})
		return api.SessionsStartResult{}, err
	}
	res, err := ss.await(ctx, se, prog)
	if err != nil {
		prog(api.ProgressValue{Kind: "end", Message: err.Error()})
		return api.SessionsStartResult{}, err
	}
	prog(api.ProgressValue{Kind: "end", Message: "ready: " + res.Target})
	slog.Info("session started", "session", id, "client", c.id, "target", res.Target, "pid", se.cmd.Process.Pid)
	return api.SessionsStartResult{SessionID: id, Env: res.Env, Unset: res.Unset, Target: res.Target, Warnings: res.Warnings}, nil
}

// reuse hands a warm runner of the same key to a new start, under a new
// session id (the old one was stopped).
func (ss *sessions) reuse(key string) (api.SessionsStartResult, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for old, se := range ss.byID {
		if !ss.reusable(se, key) {
			continue
		}
		delete(ss.byID, old)
		se.id, se.state, se.stopped, se.joined = newSessionID(), stateRunning, false, false
		ss.byID[se.id] = se
		r := se.result
		return api.SessionsStartResult{SessionID: se.id, Env: r.Env, Unset: r.Unset, Target: r.Target, Warnings: r.Warnings, Reused: true}, true
	}
	return api.SessionsStartResult{}, false
}

// reusable says whether a start with key may take se: it is the same
// launch, and the runner will still be there. A runner stops by itself
// runnerGrace after its last process exited, so an idle one is only handed
// out well before that. One whose client stopped it while its processes
// still run is handed out too (a debug restart before the old debuggee
// is gone). Called with ss.mu held.
func (ss *sessions) reusable(se *session, key string) bool {
	if ss.opts.WarmTTL <= 0 || se.key != key || se.state == stateStarting {
		return false
	}
	select {
	case <-se.exited:
		return false
	default:
	}
	g := ss.runnerGrace()
	ok := se.live == 0 && se.joined && time.Since(se.idleSince) < g-min(g/5, 2*time.Second)
	if se.live > 0 {
		ok = se.state == stateWarm
	}
	if ok && se.warm != nil && !se.warm.Stop() {
		return false // its warm TTL just ran out: it is being stopped
	}
	return ok
}

// runnerGrace is how long a runner waits for a new process after its
// last one exited: as long as it may be reused.
func (ss *sessions) runnerGrace() time.Duration {
	if ss.opts.WarmTTL > 0 {
		return ss.opts.WarmTTL
	}
	return 2 * time.Second
}

// runnerEnv is the runner's own environment: the daemon's, with the
// launch env laid over it (so MIRRORD_* settings and KUBECONFIG are the
// launch's), and JSON progress on stderr.
func runnerEnv(launch map[string]string) []string {
	m := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	for k, v := range launch {
		m[k] = v
	}
	m["MIRRORD_PROGRESS_MODE"] = "json"
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

func (ss *sessions) runnerArgv(p *api.SessionsStartParams) ([]string, error) {
	argv := slices.Clone(ss.opts.Runner)
	if len(argv) == 0 {
		self, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the mirrord binary to run the session: %w", err)
		}
		argv = []string{self, "runner"}
	}
	argv = append(argv, "--stdin-lifetime", "--launch-env", "-", "--grace", ss.runnerGrace().String(), "--start-timeout", ss.opts.StartTimeout.String())
	if p.ConfigPath != "" {
		argv = append(argv, "-f", p.ConfigPath)
	}
	if p.Target != "" {
		argv = append(argv, "-t", p.Target)
	}
	if p.Namespace != "" {
		argv = append(argv, "-n", p.Namespace)
	}
	return argv, nil
}

// spawn starts a runner and registers it as starting.
func (ss *sessions) spawn(id, key string, p *api.SessionsStartParams) (*session, error) {
	argv, err := ss.runnerArgv(p)
	if err != nil {
		return nil, err
	}
	launch, err := json.Marshal(p.LaunchEnv)
	if err != nil {
		return nil, invalidParams("sessions/start: launchEnv: %v", err)
	}
	if p.LaunchEnv == nil {
		launch = []byte("{}")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = runnerEnv(p.LaunchEnv), p.Cwd
	// Its own process group: a Ctrl-C meant for the daemon's terminal (in
	// a foreground test run) is not the session's.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("starting the session runner: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting the session runner: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("starting the session runner: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the session runner %s: %w", argv[0], err)
	}
	se := &session{key: key, first: id, cmd: cmd, stdin: stdin, started: time.Now(), exited: make(chan struct{}), id: id, state: stateStarting}
	if _, err := fmt.Fprintf(stdin, "%s\n", launch); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("sending the launch env to the session runner: %w", err)
	}
	ss.mu.Lock()
	ss.byID[id] = se
	ss.mu.Unlock()
	ss.s.poke()
	se.results = make(chan api.RunnerResult, 1)
	se.readyCh = make(chan struct{})
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		ss.watch(se, stdout, stderr)
	}()
	return se, nil
}

// watch owns a runner's pipes and its exit: the result line from stdout,
// progress and errors from stderr, then Wait and the ended notice.
func (ss *sessions) watch(se *session, stdout, stderr io.Reader) {
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		br := bufio.NewReader(stdout)
		line, err := br.ReadBytes('\n')
		var r api.RunnerResult
		if err == nil && json.Unmarshal(line, &r) == nil {
			se.results <- r
		} else if len(line) > 0 {
			slog.Warn("the session runner printed something other than its result", "session", se.first, "line", string(line))
		}
		_, _ = io.Copy(io.Discard, br)
	}()
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		ss.runnerLine(se, sc.Text())
	}
	<-outDone
	err := se.cmd.Wait()
	close(se.exited)
	ss.ended(se, err)
}

// runnerLine handles one stderr line of a runner: JSON progress, an IDE
// error ("Error: " + JSON), or anything else (logged).
func (ss *sessions) runnerLine(se *session, line string) {
	if rest, ok := strings.CutPrefix(line, "Error: "); ok {
		var e struct {
			Message string `json:"message"`
			Help    string `json:"help"`
		}
		msg := rest
		if json.Unmarshal([]byte(rest), &e) == nil && e.Message != "" {
			msg = e.Message
			if e.Help != "" {
				msg += " (" + e.Help + ")"
			}
		}
		ss.mu.Lock()
		se.lastErr = msg
		ss.mu.Unlock()
		slog.Warn("session runner error", "session", se.first, "err", msg)
		return
	}
	var ev struct {
		Type    string  `json:"type"`
		Name    string  `json:"name"`
		Message *string `json:"message"`
		Success *bool   `json:"success"`
		Live    int     `json:"live"`
	}
	if json.Unmarshal([]byte(line), &ev) != nil || ev.Type == "" {
		slog.Info("session runner", "session", se.first, "line", line)
		return
	}
	ss.mu.Lock()
	prog := se.progress
	ss.mu.Unlock()
	msg := ""
	switch ev.Type {
	case "NewTask":
		msg = ev.Name
	case "FinishedTask":
		msg = ev.Name + " done"
		if ev.Success != nil && !*ev.Success {
			msg = ev.Name + " failed"
		}
	case "Warning", "Info":
		// Not progress: warnings reach the client with the start's
		// result (or only the log, once the session runs).
		if ev.Message != nil {
			slog.Info("session runner "+strings.ToLower(ev.Type), "session", se.first, "message", *ev.Message)
			if ev.Type == "Warning" {
				ss.mu.Lock()
				se.warnings = append(se.warnings, *ev.Message)
				ss.mu.Unlock()
			}
		}
	case "Ready":
		ss.mu.Lock()
		if !se.ready {
			se.ready = true
			close(se.readyCh)
		}
		ss.mu.Unlock()
	case "SessionState":
		ss.mu.Lock()
		se.live = ev.Live
		if ev.Live > 0 {
			se.joined = true
		} else {
			se.idleSince = time.Now()
		}
		ss.mu.Unlock()
	}
	if prog != nil && msg != "" {
		prog(api.ProgressValue{Kind: "report", Message: msg})
	}
}

// await waits for a starting runner's result.
func (ss *sessions) await(ctx context.Context, se *session, prog func(api.ProgressValue)) (api.RunnerResult, error) {
	ss.mu.Lock()
	se.progress = prog
	ss.mu.Unlock()
	defer func() {
		ss.mu.Lock()
		se.progress = nil
		ss.mu.Unlock()
	}()
	select {
	case r := <-se.results:
		// stdout and stderr are separate pipes: let the progress that
		// came before the result reach the client first.
		select {
		case <-se.readyCh:
		case <-se.exited:
		case <-time.After(2 * time.Second):
		}
		ss.mu.Lock()
		r.Warnings = append(slices.Clone(r.Warnings), se.warnings...)
		se.result, se.state = r, stateRunning
		ss.mu.Unlock()
		return r, nil
	case <-se.exited:
		ss.mu.Lock()
		why := se.lastErr
		ss.mu.Unlock()
		if why == "" {
			why = fmt.Sprintf("the session runner exited (%v) before the session was ready; see the daemon log %s", se.cmd.ProcessState, ss.s.opts.LogFile)
		}
		return api.RunnerResult{}, errors.New(why)
	case <-ctx.Done():
		ss.terminate(se)
		return api.RunnerResult{}, fmt.Errorf("sessions/start was cancelled: %w", ctx.Err())
	}
}

// stop ends a session, or parks its runner for reuse for WarmTTL.
func (ss *sessions) stop(id string) error {
	ss.mu.Lock()
	se, ok := ss.byID[id]
	if !ok {
		ss.mu.Unlock()
		return userErr(fmt.Errorf("no session %q: it ended already, or was never started by this daemon (see sessions/list)", id))
	}
	if ss.opts.WarmTTL > 0 && se.state == stateRunning {
		se.state = stateWarm
		se.warm = time.AfterFunc(ss.opts.WarmTTL, func() { ss.terminate(se) })
		ss.mu.Unlock()
		slog.Info("session stopped; its runner stays warm for reuse", "session", id, "ttl", ss.opts.WarmTTL)
		return nil
	}
	ss.mu.Unlock()
	ss.terminate(se)
	return nil
}

// terminate asks a runner to stop (stdin EOF, then SIGTERM: it deletes
// its agent) and kills it if it has not exited after stopWait.
func (ss *sessions) terminate(se *session) {
	ss.mu.Lock()
	se.stopped = true
	ss.mu.Unlock()
	_ = se.stdin.Close()
	_ = se.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-se.exited:
	case <-time.After(stopWait):
		slog.Warn("the session runner did not stop; killing it", "session", se.first, "pid", se.cmd.Process.Pid)
		_ = se.cmd.Process.Kill()
	}
}

// ended removes a runner that exited and tells every client why.
func (ss *sessions) ended(se *session, err error) {
	ss.mu.Lock()
	for id, x := range ss.byID {
		if x == se {
			delete(ss.byID, id)
		}
	}
	if se.warm != nil {
		se.warm.Stop()
	}
	id, stopped, lastErr, state := se.id, se.stopped, se.lastErr, se.state
	ss.mu.Unlock()
	ss.s.poke()
	code := se.cmd.ProcessState.ExitCode()
	var reason string
	switch {
	case stopped:
		reason = "stopped"
	case lastErr != "":
		reason = lastErr
	case code == 0:
		reason = "every process of the session exited"
	case err != nil:
		reason = "the session runner ended: " + err.Error()
	default:
		reason = fmt.Sprintf("the session runner exited with code %d", code)
	}
	slog.Info("session ended", "session", id, "reason", reason, "code", code, "state", state)
	if state == stateStarting {
		return // sessions/start reports this one as its error
	}
	p := api.SessionEndedParams{SessionID: id, Reason: reason, ExitCode: code}
	ss.s.mu.Lock()
	conns := make([]*conn, 0, len(ss.s.conns))
	for _, c := range ss.s.conns {
		conns = append(conns, c)
	}
	ss.s.mu.Unlock()
	for _, c := range conns {
		c.notify(context.Background(), api.SessionEnded.Name, p)
	}
}

// stopAll ends every session and waits for the runners.
func (ss *sessions) stopAll(reason string) {
	ss.mu.Lock()
	all := make([]*session, 0, len(ss.byID))
	for _, se := range ss.byID {
		all = append(all, se)
	}
	ss.mu.Unlock()
	if len(all) > 0 {
		slog.Info("stopping every session", "reason", reason, "sessions", len(all))
	}
	var wg sync.WaitGroup
	for _, se := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss.terminate(se)
		}()
	}
	wg.Wait()
	ss.wg.Wait()
}
