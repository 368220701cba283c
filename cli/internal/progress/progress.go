// Package progress shows what a command is doing while a session starts,
// in the modes upstream's MIRRORD_PROGRESS_MODE selects: `std` (the
// default: a line per finished step, only on a terminal, so pipes and logs
// stay clean), `dumb`/`simple` (plain lines even without a terminal),
// `json` (one object per stdout line, the IDE contract) and `off`.
package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Mode is a progress output mode.
type Mode int

// Modes.
const (
	Off Mode = iota
	Std
	Dumb
	JSON
)

// ParseMode reads MIRRORD_PROGRESS_MODE. An empty value is Std.
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "std", "standard":
		return Std, nil
	case "dumb", "simple":
		return Dumb, nil
	case "json":
		return JSON, nil
	case "off":
		return Off, nil
	}
	return Off, fmt.Errorf("MIRRORD_PROGRESS_MODE=%q: expected std, dumb, json or off", s)
}

// Progress writes steps. It is safe for concurrent use.
type Progress struct {
	mu   sync.Mutex
	w    io.Writer
	mode Mode
	tty  bool
	root string
	now  func() time.Time
}

// New returns a Progress writing to w. Std mode shows steps only when tty
// is true; warnings show in every mode but Off. In JSON mode w should be
// stdout; root is the parent task name.
func New(w io.Writer, mode Mode, tty bool, root string) *Progress {
	return &Progress{w: w, mode: mode, tty: tty, root: root, now: time.Now}
}

// Task starts a step; the returned function ends it.
func (p *Progress) Task(name string) func(error) {
	start := p.now()
	p.emit(map[string]any{"type": "NewTask", "name": name, "parent": p.parent()}, "", false)
	var once sync.Once
	return func(err error) {
		once.Do(func() {
			took := p.now().Sub(start).Round(10 * time.Millisecond)
			var msg any
			mark := "✓"
			if err != nil {
				msg, mark = err.Error(), "✗"
			}
			p.emit(map[string]any{"type": "FinishedTask", "name": name, "success": err == nil, "message": msg},
				fmt.Sprintf("%s %s (%s)", mark, name, took), false)
		})
	}
}

func (p *Progress) parent() any {
	if p.root == "" {
		return nil
	}
	return p.root
}

// Warn shows a warning.
func (p *Progress) Warn(msg string) {
	p.emit(map[string]any{"type": "Warning", "message": msg}, "warning: "+msg, true)
}

// Error shows a failure the user must see to understand why the program
// failed: in every mode, Off included (a JSON Warning in JSON mode, which
// the IDE plugins show).
func (p *Progress) Error(msg string) {
	if p.mode == JSON {
		p.Warn(msg)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "mirrord: error: %s\n", msg)
}

// Info shows a message.
func (p *Progress) Info(msg string) {
	p.emit(map[string]any{"type": "Info", "message": msg}, msg, true)
}

// Emit writes one message of another type, in JSON mode only.
func (p *Progress) Emit(obj map[string]any) {
	if p.mode == JSON {
		p.emit(obj, "", false)
	}
}

// emit writes one message; steps (always false) are left out in Std mode
// without a terminal, so piped output stays clean.
func (p *Progress) emit(obj map[string]any, line string, always bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.mode == Off, p.mode == Std && !p.tty && !always:
	case p.mode == JSON:
		b, _ := json.Marshal(obj)
		fmt.Fprintf(p.w, "%s\n", b)
	default:
		if line != "" {
			fmt.Fprintf(p.w, "mirrord: %s\n", line)
		}
	}
}
