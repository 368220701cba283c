package discover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Event ops.
const (
	OpCreated = "created"
	OpChanged = "changed"
	OpRemoved = "removed"
)

// Event is one change to a config candidate of a workspace.
type Event struct {
	Workspace string `json:"workspace"`
	Path      string `json:"path"`
	Op        string `json:"op"` // "created" | "changed" | "removed"
}

// Debounce is how long Watch waits for a burst of file system events to
// settle before it compares the candidates with what it saw last.
const Debounce = 100 * time.Millisecond

// stamp identifies one version of a file. An atomic save (write a temp file,
// rename it over the config) changes the inode; an in-place write changes
// the size or the modification time.
type stamp struct {
	size  int64
	mtime int64
	ino   uint64
}

// Watch reports changes to the config candidates of workspace until ctx is
// done, then returns nil. It does not act on raw file system events: each
// burst of them (debounced by Debounce) triggers a rescan, and the
// difference from the previous scan is reported. So an editor's atomic save
// is one "changed" event, a rename is "removed" plus "created", and the
// .mirrord directory may be created, removed or renamed at any time. emit is
// called from Watch's goroutine, in path order within a burst.
func Watch(ctx context.Context, workspace string, emit func(Event)) error {
	return watch(ctx, workspace, emit, func() {})
}

// watch is Watch with a hook called once the watches are in place and the
// first scan is done, so tests know when changes start to count.
func watch(ctx context.Context, workspace string, emit func(Event), ready func()) error {
	ws, err := workspaceDir(workspace)
	if err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching configs of %s: %w", ws, err)
	}
	defer func() { _ = w.Close() }()
	if err := w.Add(ws); err != nil {
		return fmt.Errorf("watching workspace folder %s: %w", ws, err)
	}
	dir := filepath.Join(ws, DirName)
	// watchDir (re)adds the .mirrord watch; a removed directory drops its
	// watch by itself, and a new one at the same path needs a new watch.
	// Adding a watched path again is harmless.
	watchDir := func() {
		err := w.Add(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			slog.Warn("watching mirrord config folder", "dir", dir, "err", err)
		}
	}
	watchDir()
	prev := scan(ws)
	ready()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if !relevant(ws, ev.Name) {
				continue
			}
			if ev.Name == dir {
				// Add is idempotent; re-adding also recovers the watch when
				// the directory was replaced by a rename.
				watchDir()
			}
			timer.Reset(Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events, but the rescan below recovers the
			// state, so it is not fatal.
			slog.Warn("config watch error; rescanning", "workspace", ws, "err", err)
			timer.Reset(Debounce)
		case <-timer.C:
			watchDir()
			next := scan(ws)
			for _, e := range diff(ws, prev, next) {
				emit(e)
			}
			prev = next
		}
	}
}

// relevant filters the workspace root's events: only .mirrord itself and
// root-level candidates matter. Everything under .mirrord is relevant
// (temp files of atomic saves show up there first).
func relevant(ws, name string) bool {
	dir := filepath.Join(ws, DirName)
	return name == dir || filepath.Dir(name) == dir || isCandidate(ws, name)
}

func scan(ws string) map[string]stamp {
	out := map[string]stamp{}
	cands, err := Candidates(ws)
	if err != nil {
		slog.Warn("listing mirrord configs", "workspace", ws, "err", err)
		return out
	}
	for _, c := range cands {
		st, err := os.Stat(c)
		if err != nil {
			continue // removed between the listing and now
		}
		s := stamp{size: st.Size(), mtime: st.ModTime().UnixNano()}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			s.ino = sys.Ino
		}
		out[c] = s
	}
	return out
}

func diff(ws string, prev, next map[string]stamp) []Event {
	var out []Event
	for p, s := range next {
		old, ok := prev[p]
		switch {
		case !ok:
			out = append(out, Event{Workspace: ws, Path: p, Op: OpCreated})
		case old != s:
			out = append(out, Event{Workspace: ws, Path: p, Op: OpChanged})
		}
	}
	for p := range prev {
		if _, ok := next[p]; !ok {
			out = append(out, Event{Workspace: ws, Path: p, Op: OpRemoved})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Op < out[j].Op
	})
	return out
}
