package discover

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// watcher runs Watch on a temp workspace for one test.
type watcher struct {
	ws     string
	events chan Event
}

func startWatch(t *testing.T, setup func(ws string)) *watcher {
	t.Helper()
	ws := t.TempDir()
	if setup != nil {
		setup(ws)
	}
	w := &watcher{ws: ws, events: make(chan Event, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	var g errgroup.Group
	ready := make(chan struct{})
	g.Go(func() error { return watch(ctx, ws, func(e Event) { w.events <- e }, func() { close(ready) }) })
	t.Cleanup(func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("Watch: %v", err)
		}
	})
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not start")
	}
	return w
}

// expect waits for exactly the given events (paths relative to the
// workspace), then checks that nothing else arrives.
func (w *watcher) expect(t *testing.T, want ...Event) {
	t.Helper()
	for i := range want {
		want[i].Workspace = w.ws
		want[i].Path = filepath.Join(w.ws, want[i].Path)
	}
	var got []Event
	deadline := time.After(3 * time.Second)
	for len(got) < len(want) {
		select {
		case e := <-w.events:
			got = append(got, e)
		case <-deadline:
			t.Fatalf("events: got %v, want %v", got, want)
		}
	}
	select {
	case e := <-w.events:
		got = append(got, e)
	case <-time.After(3 * Debounce):
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Path+got[i].Op < got[j].Path+got[j].Op })
	sort.Slice(want, func(i, j int) bool { return want[i].Path+want[i].Op < want[j].Path+want[j].Op })
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n got %v\nwant %v", got, want)
	}
}

func (w *watcher) defaultIs(t *testing.T, rel string) {
	t.Helper()
	r, err := Discover(w.ws, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	if rel != "" {
		want = filepath.Join(w.ws, rel)
	}
	if r.Default != want {
		t.Fatalf("default config: got %q, want %q", r.Default, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	withConfig := func(ws string) { write(t, filepath.Join(ws, ".mirrord/mirrord.json"), "{}") }
	tests := []struct {
		name   string
		setup  func(ws string)
		act    func(t *testing.T, ws string)
		want   []Event
		defCfg string
	}{
		{
			name: "create dir and file",
			act: func(t *testing.T, ws string) {
				write(t, filepath.Join(ws, ".mirrord/mirrord.toml"), "")
			},
			want:   []Event{{Path: ".mirrord/mirrord.toml", Op: OpCreated}},
			defCfg: ".mirrord/mirrord.toml",
		},
		{
			name:  "create in existing dir",
			setup: withConfig,
			act: func(t *testing.T, ws string) {
				write(t, filepath.Join(ws, ".mirrord/a-mirrord.yaml"), "a: 1")
			},
			want:   []Event{{Path: ".mirrord/a-mirrord.yaml", Op: OpCreated}},
			defCfg: ".mirrord/a-mirrord.yaml",
		},
		{
			name:  "edit",
			setup: withConfig,
			act: func(t *testing.T, ws string) {
				f, err := os.OpenFile(filepath.Join(ws, ".mirrord/mirrord.json"), os.O_WRONLY|os.O_APPEND, 0)
				must(t, err)
				_, err = f.WriteString(" ")
				must(t, err)
				must(t, f.Close())
			},
			want:   []Event{{Path: ".mirrord/mirrord.json", Op: OpChanged}},
			defCfg: ".mirrord/mirrord.json",
		},
		{
			name:  "atomic save is one change",
			setup: withConfig,
			act: func(t *testing.T, ws string) {
				tmp := filepath.Join(ws, ".mirrord/.mirrord.json.tmp1234")
				write(t, tmp, `{"target": "targetless"}`)
				must(t, os.Rename(tmp, filepath.Join(ws, ".mirrord/mirrord.json")))
			},
			want:   []Event{{Path: ".mirrord/mirrord.json", Op: OpChanged}},
			defCfg: ".mirrord/mirrord.json",
		},
		{
			name:  "rename",
			setup: withConfig,
			act: func(t *testing.T, ws string) {
				must(t, os.Rename(filepath.Join(ws, ".mirrord/mirrord.json"), filepath.Join(ws, ".mirrord/dev-mirrord.json")))
			},
			want:   []Event{{Path: ".mirrord/mirrord.json", Op: OpRemoved}, {Path: ".mirrord/dev-mirrord.json", Op: OpCreated}},
			defCfg: ".mirrord/dev-mirrord.json",
		},
		{
			name:  "delete",
			setup: withConfig,
			act: func(t *testing.T, ws string) {
				must(t, os.Remove(filepath.Join(ws, ".mirrord/mirrord.json")))
			},
			want: []Event{{Path: ".mirrord/mirrord.json", Op: OpRemoved}},
		},
		{
			name: "remove dir",
			setup: func(ws string) {
				withConfig(ws)
				write(t, filepath.Join(ws, ".mirrord/other.yaml"), "")
			},
			act: func(t *testing.T, ws string) {
				must(t, os.RemoveAll(filepath.Join(ws, ".mirrord")))
			},
			want: []Event{{Path: ".mirrord/mirrord.json", Op: OpRemoved}, {Path: ".mirrord/other.yaml", Op: OpRemoved}},
		},
		{
			name:  "rename dir away",
			setup: withConfig,
			act: func(t *testing.T, ws string) {
				must(t, os.Rename(filepath.Join(ws, ".mirrord"), filepath.Join(ws, "old")))
			},
			want: []Event{{Path: ".mirrord/mirrord.json", Op: OpRemoved}},
		},
		{
			name: "rename dir into place",
			setup: func(ws string) {
				write(t, filepath.Join(ws, "staging/mirrord.json"), "{}")
			},
			act: func(t *testing.T, ws string) {
				must(t, os.Rename(filepath.Join(ws, "staging"), filepath.Join(ws, ".mirrord")))
			},
			want:   []Event{{Path: ".mirrord/mirrord.json", Op: OpCreated}},
			defCfg: ".mirrord/mirrord.json",
		},
		{
			name: "root candidate; unrelated files are ignored",
			act: func(t *testing.T, ws string) {
				write(t, filepath.Join(ws, "main.go"), "package main")
				write(t, filepath.Join(ws, "staging.mirrord.toml"), "")
			},
			want: []Event{{Path: "staging.mirrord.toml", Op: OpCreated}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := startWatch(t, tt.setup)
			tt.act(t, w.ws)
			w.expect(t, tt.want...)
			w.defaultIs(t, tt.defCfg)
		})
	}
}

// TestWatchDirRecreated: after the .mirrord directory is removed and made
// again, changes inside the new one are still seen.
func TestWatchDirRecreated(t *testing.T) {
	w := startWatch(t, func(ws string) { write(t, filepath.Join(ws, ".mirrord/mirrord.json"), "{}") })
	must(t, os.RemoveAll(filepath.Join(w.ws, ".mirrord")))
	w.expect(t, Event{Path: ".mirrord/mirrord.json", Op: OpRemoved})
	must(t, os.Mkdir(filepath.Join(w.ws, ".mirrord"), 0o755))
	time.Sleep(2 * Debounce) // the file comes later than the directory
	write(t, filepath.Join(w.ws, ".mirrord/mirrord.yaml"), "")
	w.expect(t, Event{Path: ".mirrord/mirrord.yaml", Op: OpCreated})
	write(t, filepath.Join(w.ws, ".mirrord/mirrord.yaml"), "target: targetless")
	w.expect(t, Event{Path: ".mirrord/mirrord.yaml", Op: OpChanged})
}

// TestWatchDebounces: a burst of writes is reported once.
func TestWatchDebounces(t *testing.T) {
	w := startWatch(t, func(ws string) { write(t, filepath.Join(ws, ".mirrord/mirrord.json"), "{}") })
	for i := range 20 {
		write(t, filepath.Join(w.ws, ".mirrord/mirrord.json"), string(rune('a'+i)))
	}
	w.expect(t, Event{Path: ".mirrord/mirrord.json", Op: OpChanged})
}

// TestWatchDirRenamedAndReplaced: after .mirrord is renamed away and a new
// one appears, the new one is watched and the old one no longer counts.
func TestWatchDirRenamedAndReplaced(t *testing.T) {
	w := startWatch(t, func(ws string) { write(t, filepath.Join(ws, ".mirrord/mirrord.json"), "{}") })
	must(t, os.Rename(filepath.Join(w.ws, ".mirrord"), filepath.Join(w.ws, "backup")))
	w.expect(t, Event{Path: ".mirrord/mirrord.json", Op: OpRemoved})
	write(t, filepath.Join(w.ws, ".mirrord/b-mirrord.toml"), "")
	w.expect(t, Event{Path: ".mirrord/b-mirrord.toml", Op: OpCreated})
	write(t, filepath.Join(w.ws, "backup/mirrord.json"), `{"target": "targetless"}`)
	w.expect(t)
	write(t, filepath.Join(w.ws, ".mirrord/b-mirrord.toml"), "target = \"targetless\"")
	w.expect(t, Event{Path: ".mirrord/b-mirrord.toml", Op: OpChanged})
	w.defaultIs(t, ".mirrord/b-mirrord.toml")
}
