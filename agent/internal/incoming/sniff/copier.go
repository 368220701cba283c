//go:build linux

package sniff

import (
	"io"
	"log/slog"
	"sync"
)

// chunkSize is the unit of a copier's buffer. Fixed chunks from a pool
// keep the capture loop from regrowing (and re-copying) one big slice per
// burst, which was most of its CPU at loopback speeds.
const chunkSize = 64 << 10

var chunks = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// copier hands one connection's bytes to its consumer from a goroutine of
// its own, so that a slow consumer never holds up the capture loop: the
// loop appends to buf and returns, and past max unwritten bytes the copy
// is refused instead of waiting.
type copier struct {
	wc   io.WriteCloser
	max  int
	log  *slog.Logger
	wake chan struct{} // capacity 1: "buf or state changed"

	mu     sync.Mutex
	buf    [][]byte // bytes not yet handed to wc, in pooled chunks
	n      int      // bytes in buf
	state  copierState
	broken bool // a write failed

	closeOnce sync.Once
}

type copierState int

const (
	running   copierState = iota
	finishing             // write what is buffered, then close
	aborted               // drop what is buffered, close now
)

func newCopier(wc io.WriteCloser, max int, log *slog.Logger) *copier {
	return &copier{wc: wc, max: max, log: log, wake: make(chan struct{}, 1)}
}

func (c *copier) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// push queues a copy of b. It returns false, queueing nothing, when the
// copy is over (finished, aborted or broken) or b would take it past max.
func (c *copier) push(b []byte) bool {
	c.mu.Lock()
	if c.state != running || c.broken || c.n+len(b) > c.max {
		c.mu.Unlock()
		return false
	}
	c.n += len(b)
	for len(b) > 0 {
		if k := len(c.buf); k > 0 && len(c.buf[k-1]) < chunkSize {
			tail := c.buf[k-1]
			m := copy(tail[len(tail):chunkSize], b)
			c.buf[k-1] = tail[:len(tail)+m]
			b = b[m:]
			continue
		}
		c.buf = append(c.buf, chunks.Get().(*[chunkSize]byte)[:0])
	}
	c.mu.Unlock()
	c.signal()
	return true
}

// buffered returns how many bytes wait for the consumer.
func (c *copier) buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// isBroken reports whether the consumer failed a write.
func (c *copier) isBroken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.broken
}

// finish lets the writer drain what is buffered and then close.
func (c *copier) finish() {
	c.mu.Lock()
	if c.state == running {
		c.state = finishing
	}
	c.mu.Unlock()
	c.signal()
}

// abort drops what is buffered and closes the consumer now. The close
// runs on a goroutine of spawn's owner, never on the caller (the capture
// loop), and while a Write may be blocked: that is what unblocks it.
func (c *copier) abort(spawn func(func())) {
	c.mu.Lock()
	c.state = aborted
	release(c.buf)
	c.buf, c.n = nil, 0
	c.mu.Unlock()
	c.signal()
	spawn(c.close)
}

func (c *copier) close() {
	c.closeOnce.Do(func() {
		if err := c.wc.Close(); err != nil {
			c.log.Debug("closing the copy", "error", err)
		}
	})
}

// release returns chunks to the pool.
func release(bufs [][]byte) {
	for _, b := range bufs {
		chunks.Put((*[chunkSize]byte)(b[:chunkSize]))
	}
}

// run is the writer goroutine. It ends when the copy is finished and
// written, aborted, or broken.
func (c *copier) run() {
	var taken [][]byte
	for range c.wake {
		for {
			c.mu.Lock()
			if c.state == aborted {
				c.mu.Unlock()
				return
			}
			if c.n == 0 {
				st := c.state
				c.mu.Unlock()
				if st == finishing {
					c.close()
					return
				}
				break
			}
			// Hand the chunks over and give the loop an empty list (the
			// one written last time) to fill meanwhile.
			taken, c.buf = c.buf, taken[:0]
			c.n = 0
			c.mu.Unlock()

			var err error
			for _, b := range taken {
				if err == nil {
					_, err = c.wc.Write(b)
				}
			}
			release(taken)
			clear(taken)
			if err != nil {
				c.mu.Lock()
				c.broken = true
				c.mu.Unlock()
				c.log.Debug("the consumer refused the copy; it stops", "error", err)
				c.close()
				return
			}
		}
	}
}
