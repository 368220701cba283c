package daemon

import (
	"sync"
)

// SessionOptions configure session runners.
type SessionOptions struct{}

// sessions owns the session runners.
type sessions struct {
	s    *Server
	opts SessionOptions

	mu   sync.Mutex
	byID map[string]*session
}

type session struct{}

func newSessions(s *Server, opts SessionOptions) *sessions {
	return &sessions{s: s, opts: opts, byID: map[string]*session{}}
}

// live counts the sessions that keep the daemon up.
func (ss *sessions) live() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.byID)
}

func (ss *sessions) stopAll(reason string) {}
