package supervisor

import (
	"context"
	"fmt"

	"github.com/mirrord-go/mirrord/layer/internal/notify"
)

type injectReq struct {
	id      uint64
	fd      int
	cloexec bool
	done    chan injectRes
}

type injectRes struct {
	fd  int
	err error
}

// startInjectors starts n injector goroutines, each locked to a thread
// with every signal blocked (see notify.LockThreadForInject). They end
// with ctx; their threads are then discarded.
func (s *Supervisor) startInjectors(ctx context.Context, n int) error {
	s.inj = make(chan injectReq)
	ready := make(chan error, n)
	for range n {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := notify.LockThreadForInject()
			ready <- err
			if err != nil {
				return
			}
			for {
				select {
				case r := <-s.inj:
					fd, err := s.l.AddFDSend(r.id, r.fd, r.cloexec)
					r.done <- injectRes{fd, err}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	for range n {
		if err := <-ready; err != nil {
			return fmt.Errorf("starting the fd injectors: %w", err)
		}
	}
	return nil
}

// inject installs fd (the supervisor's; the caller still closes it) in
// the trapped process as the call's result.
func (c *call) inject(fd int, cloexec bool) {
	if err := c.injectErr(fd, cloexec); err != nil {
		c.answerFailed(err)
	}
}

// injectErr is inject for callers that keep fd when it could not be
// installed (the caller went away).
func (c *call) injectErr(fd int, cloexec bool) error {
	done := make(chan injectRes, 1)
	select {
	case c.s.inj <- injectReq{id: c.n.ID, fd: fd, cloexec: cloexec, done: done}:
	case <-c.s.ctx.Done():
		return c.s.ctx.Err()
	}
	return (<-done).err
}
