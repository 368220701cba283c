// Package graceful ends a group of goroutines the way the agent and the
// layer both need at shutdown: they get a while to finish what they are
// doing (a request in flight, an answer on its way), then are cut.
package graceful

import (
	"sync"
	"time"
)

// Wait waits for wg for up to grace, then calls cut (which must make the
// goroutines return) and waits for wg again.
func Wait(wg *sync.WaitGroup, grace time.Duration, cut func()) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
	cut()
	<-done
}
