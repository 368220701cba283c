package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mirrord-go/mirrord/agent/protocol"
	"github.com/mirrord-go/mirrord/internal/buildinfo"
	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// Progress receives the steps of starting a session. Task starts a step and
// returns the function that ends it (nil error for success).
type Progress interface {
	Task(name string) (done func(error))
	Warn(msg string)
}

// Options configure Start.
type Options struct {
	Config *schema.Config
	// Progress may be nil.
	Progress Progress
	// Client names the caller in the agent's log, e.g. "mirrord exec".
	Client string
	Logger *slog.Logger
	// OnStream serves streams the agent opens (incoming traffic), and
	// OnEvent the agent's events (see protocol.ClientOptions).
	OnStream func(protocol.StreamHeader, *protocol.AgentStream)
	OnEvent  func(protocol.Kind, []byte) bool
}

// Session is a running agent session.
type Session struct {
	Kube   *kube.Client
	Target *kube.Target // nil when targetless
	Agent  *kube.Agent
	Conn   *protocol.Client
	// Namespace is where the target is (or the agent runs, targetless).
	Namespace string
	cfg       *schema.Config

	closeOnce sync.Once
	done      chan struct{}
	err       error
	stop      context.CancelFunc
	watchDone chan struct{}
}

// DefaultCommunicationTimeout applies when agent.communication_timeout is unset.
const DefaultCommunicationTimeout = 30 * time.Second

// Start resolves the target, creates the agent, connects to it and
// handshakes. On error everything created so far is removed.
func Start(ctx context.Context, o Options) (_ *Session, err error) {
	cfg := o.Config
	p := o.Progress
	if p == nil {
		p = nopProgress{}
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	startup := time.Duration(cfg.Agent.StartupTimeout) * time.Second
	if startup <= 0 {
		startup = 60 * time.Second
	}
	commTimeout := DefaultCommunicationTimeout
	if cfg.Agent.CommunicationTimeout != nil {
		commTimeout = time.Duration(*cfg.Agent.CommunicationTimeout) * time.Second
	}

	kc, err := kube.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	s := &Session{Kube: kc, cfg: cfg, done: make(chan struct{}), watchDone: make(chan struct{})}
	s.Namespace = cfg.Target.Namespace
	if s.Namespace == "" {
		s.Namespace = kc.Namespace
	}
	defer func() {
		if err != nil {
			s.teardown(context.WithoutCancel(ctx))
		}
	}()

	targetPath := ""
	if cfg.Target.Path != nil {
		targetPath = cfg.Target.Path.String()
	}
	if targetPath != "" && targetPath != schema.KindTargetless {
		done := p.Task("resolving target " + targetPath)
		s.Target, err = kc.ResolveTarget(ctx, targetPath, s.Namespace)
		done(err)
		if err != nil {
			return nil, err
		}
		s.Namespace = s.Target.Namespace
	}

	token, err := newToken()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, startup)
	defer cancel()
	spec := kube.AgentSpec{
		Config: cfg.Agent, Target: s.Target, Namespace: s.Namespace,
		Image:                cfg.Agent.Image.Ref(buildinfo.Version),
		TokenHash:            protocol.TokenHash(token),
		CommunicationTimeout: commTimeout,
	}
	var task func(error)
	s.Agent, err = kc.CreateAgent(sctx, spec, func(step string) {
		if task != nil {
			task(nil)
		}
		task = p.Task(step)
	})
	if task != nil {
		task(err)
	}
	if err != nil {
		return nil, startupErr(err, sctx, startup)
	}

	done := p.Task("connecting to the agent")
	conn, err := s.Agent.Dial(sctx)
	if err == nil {
		s.Conn, err = protocol.NewClient(sctx, conn, protocol.ClientOptions{
			Token: token, Name: o.Client + "/" + buildinfo.Version, Logger: log, OnStream: o.OnStream, OnEvent: o.OnEvent,
		})
	}
	done(err)
	if err != nil {
		return nil, startupErr(fmt.Errorf("connecting to agent %s/%s: %w", s.Agent.Namespace, s.Agent.Pod, err), sctx, startup)
	}
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go s.watch(wctx)
	return s, nil
}

// startupErr names agent.startup_timeout when that is what ended the start.
func startupErr(err error, ctx context.Context, d time.Duration) error {
	// kube's own startup errors already name the key.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, kube.ErrAgentStartup) {
		return fmt.Errorf("%w (the agent was not ready within %s; raise agent.startup_timeout or --agent-startup-timeout)", err, d)
	}
	return err
}

// watch ends the session when the agent connection drops or the agent's
// pod goes away, recording why.
func (s *Session) watch(ctx context.Context) {
	defer close(s.watchDone)
	var err error
	select {
	case <-ctx.Done():
		return
	case <-s.Conn.Done():
		err = s.Conn.Err()
		// The pod watch usually knows better why: prefer its reason.
		select {
		case <-s.Agent.Gone():
			err = s.Agent.Err()
		case <-time.After(500 * time.Millisecond):
		}
	case <-s.Agent.Gone():
		err = s.Agent.Err()
	}
	if err == nil {
		err = errors.New("the agent session ended")
	}
	s.err = err
	close(s.done)
}

// Done is closed when the session is lost (not when Close is called).
func (s *Session) Done() <-chan struct{} { return s.done }

// Err says why the session was lost.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// RemoteEnv fetches the target's environment and merges it with local
// according to feature.env.
func (s *Session) RemoteEnv(ctx context.Context, local []string) (*Env, error) {
	timeout := DefaultCommunicationTimeout
	if s.cfg.Agent.CommunicationTimeout != nil {
		timeout = time.Duration(*s.cfg.Agent.CommunicationTimeout) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	remote, err := s.Conn.Env(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w (raise agent.communication_timeout)", err)
		}
		return nil, fmt.Errorf("fetching the target's environment: %w", err)
	}
	return MergeEnv(local, remote, s.cfg.Feature.Env, nil)
}

// Close ends the session: closes the connection (the agent exits when its
// last client leaves) and deletes the agent's Job. Safe to call twice.
func (s *Session) Close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() { err = s.teardown(ctx) })
	return err
}

func (s *Session) teardown(ctx context.Context) error {
	if s.stop != nil {
		s.stop()
		<-s.watchDone
	}
	if s.Conn != nil {
		s.Conn.Close()
	}
	if s.Agent == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Agent.Delete(ctx); err != nil {
		return fmt.Errorf("deleting agent %s/%s: %w", s.Agent.Namespace, s.Agent.Name, err)
	}
	return nil
}

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the session token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

type nopProgress struct{}

func (nopProgress) Task(string) func(error) { return func(error) {} }
func (nopProgress) Warn(string)             {}
