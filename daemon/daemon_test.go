package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.lsp.dev/protocol"

	"github.com/mirrord-go/mirrord/daemon"
	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/client"
)

type note struct {
	method string
	params json.RawMessage
}

// fixture is one client connected to a daemon, in-process over a pipe or
// in a separate process over its socket.
type fixture struct {
	c      *client.Client
	notes  chan note
	inProc bool
	pid    int
	opts   client.Options
}

func (f *fixture) onNotify(m string, p json.RawMessage) {
	select {
	case f.notes <- note{m, append(json.RawMessage(nil), p...)}:
	default:
	}
}

// waitNote waits for a notification of method whose params satisfy ok.
func (f *fixture) waitNote(t *testing.T, method string, timeout time.Duration, ok func(json.RawMessage) bool) json.RawMessage {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case n := <-f.notes:
			if n.method == method && (ok == nil || ok(n.params)) {
				return n.params
			}
		case <-deadline:
			t.Fatalf("no %s notification within %s", method, timeout)
			return nil
		}
	}
}

func pipeFixture(t *testing.T, opts daemon.Options) *fixture {
	t.Helper()
	s := daemon.New(opts)
	a, b := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ServeConn(ctx, a)
	}()
	f := &fixture{notes: make(chan note, 256), inProc: true, pid: os.Getpid()}
	c, err := client.New(ctx, b, client.Options{Name: "pipe-test", OnNotify: f.onNotify})
	if err != nil {
		t.Fatalf("client over a pipe: %v", err)
	}
	f.c = c
	t.Cleanup(func() {
		c.Close()
		cancel()
		<-done
		s.Close()
	})
	return f
}

// procFixture auto-starts this test binary as the daemon (see TestMain)
// on a socket of its own, exactly as a CLI client starts `mirrord daemon
// serve`.
func procFixture(t *testing.T, serveArgs ...string) *fixture {
	t.Helper()
	t.Setenv(serveEnv, "1")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "d.sock")
	f := &fixture{notes: make(chan note, 256)}
	f.opts = client.Options{Socket: sock, AutoStart: true, Exe: exe, Name: "proc-test", OnNotify: f.onNotify, ServeArgs: serveArgs}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, f.opts)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(filepath.Dir(sock), "daemon.log"))
		t.Fatalf("starting the daemon process: %v\nlog:\n%s", err, log)
	}
	f.c, f.pid = c, c.Info.Pid
	t.Cleanup(func() {
		stopDaemon(t, f)
		c.Close()
	})
	return f
}

// stopDaemon asks the daemon to stop and waits until its pid is gone.
func stopDaemon(t *testing.T, f *fixture) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{Socket: f.opts.Socket})
	if err != nil {
		return // already gone
	}
	defer c.Close()
	if _, err := client.Call(ctx, c, api.DaemonStop, api.Empty{}); err != nil {
		t.Errorf("daemon/stop: %v", err)
	}
	waitGone(t, f.pid, 10*time.Second)
}

func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err != nil {
			return
		}
		if st, err := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			return // exited, waiting to be reaped by its starter
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("daemon pid %d still running after %s", pid, timeout)
}

func itoa(i int) string { return strconv.Itoa(i) }

func call[P, R any](t *testing.T, f *fixture, m api.Method[P, R], p P) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := client.Call(ctx, f.c, m, p)
	if err != nil {
		t.Fatalf("%s: %v", m.Name, err)
	}
	return r
}

func callErr[P, R any](t *testing.T, f *fixture, m api.Method[P, R], p P) *client.Error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_, err := client.Call(ctx, f.c, m, p)
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: want a daemon error, got %v", m.Name, err)
	}
	return ce
}

func paths(ts []api.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Path
		if !t.Available {
			out[i] += "(unavailable)"
		}
	}
	return out
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func equal[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

// methodCases is the table both suites run: every method of the API.
var methodCases = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"initialize", func(t *testing.T, f *fixture) {
		in := f.c.Info
		if in.ProtocolVersion != api.ProtocolVersion || in.ServerInfo.Name != "mirrord" || in.Version == "" || in.BuildHash == "" {
			t.Errorf("initialize: %+v", in)
		}
		if (in.Pid == os.Getpid()) != f.inProc {
			t.Errorf("initialize pid %d, test pid %d, in-process %v", in.Pid, os.Getpid(), f.inProc)
		}
		for _, m := range []string{"targets/list", "config/resolve", "sessions/start", "textDocument/completion"} {
			if !slices.Contains(in.Methods, m) {
				t.Errorf("initialize methods lack %s: %v", m, in.Methods)
			}
		}
		caps, _ := json.Marshal(in.Capabilities)
		if !strings.Contains(string(caps), "completionProvider") || !strings.Contains(string(caps), "hoverProvider") {
			t.Errorf("LSP capabilities: %s", caps)
		}
	}},
	{"daemon/status", func(t *testing.T, f *fixture) {
		st := call(t, f, api.DaemonStatus, api.Empty{})
		if st.Pid != f.pid || st.Clients != 0 || st.Sessions != 0 || st.UptimeSeconds < 0 {
			t.Errorf("status: %+v (want pid %d, no other client)", st, f.pid)
		}
	}},
	{"targets/list defaults", func(t *testing.T, f *fixture) {
		r := call(t, f, api.TargetsList, api.TargetsListParams{})
		equal(t, "targets", paths(r.Targets), []string{"pod/multi/container/a", "pod/multi/container/b", "pod/sidecar", "pod/web-1", "deployment/web"})
		equal(t, "namespaces", r.Namespaces, []string{"apps", "other"})
		if r.CurrentNamespace != "apps" || r.KubeContext != "fake" || r.Targets[4].Kind != "deployment" {
			t.Errorf("list: %+v", r)
		}
	}},
	{"targets/list namespace and types", func(t *testing.T, f *fixture) {
		r := call(t, f, api.TargetsList, api.TargetsListParams{Namespace: "other", Types: []string{"deployment", "pod"}})
		equal(t, "targets", paths(r.Targets), []string{"pod/db-0"})
		r = call(t, f, api.TargetsList, api.TargetsListParams{Types: []string{"statefulset", "Deployment"}})
		equal(t, "targets", paths(r.Targets), []string{"statefulset/db", "deployment/web"})
	}},
	{"targets/list includeUnavailable", func(t *testing.T, f *fixture) {
		r := call(t, f, api.TargetsList, api.TargetsListParams{IncludeUnavailable: true})
		equal(t, "targets", paths(r.Targets), []string{"pod/multi/container/a", "pod/multi/container/b", "pod/pending-1(unavailable)", "pod/sidecar", "pod/web-1", "deployment/down(unavailable)", "deployment/web"})
	}},
	{"targets/list namespace from config", func(t *testing.T, f *fixture) {
		cfg := writeFile(t, filepath.Join(t.TempDir(), "m.json"), `{"target": {"namespace": "other"}}`)
		r := call(t, f, api.TargetsList, api.TargetsListParams{ClusterParams: api.ClusterParams{ConfigPath: cfg}})
		equal(t, "targets", paths(r.Targets), []string{"pod/db-0"})
		if r.CurrentNamespace != "other" {
			t.Errorf("current namespace %q", r.CurrentNamespace)
		}
	}},
	{"targets/list bad type", func(t *testing.T, f *fixture) {
		e := callErr(t, f, api.TargetsList, api.TargetsListParams{Types: []string{"pod", "targetless"}})
		if e.Code != api.CodeInvalidParams || !strings.Contains(e.Message, "types[1]") {
			t.Errorf("error %d %q", e.Code, e.Message)
		}
	}},
	{"bad params name the field", func(t *testing.T, f *fixture) {
		ctx := context.Background()
		err := f.c.CallRaw(ctx, "targets/list", map[string]any{"namespace": 5}, nil)
		if err == nil || !strings.Contains(err.Error(), `"namespace"`) || !strings.Contains(err.Error(), "-32602") {
			t.Errorf("bad params: %v", err)
		}
	}},
	{"unknown method", func(t *testing.T, f *fixture) {
		err := f.c.CallRaw(context.Background(), "targets/lst", nil, nil)
		if err == nil || !strings.Contains(err.Error(), "-32601") {
			t.Errorf("unknown method: %v", err)
		}
	}},
	{"config error category", func(t *testing.T, f *fixture) {
		cfg := writeFile(t, filepath.Join(t.TempDir(), "m.json"), `{"kube_context": "broken"}`)
		e := callErr(t, f, api.TargetsList, api.TargetsListParams{ClusterParams: api.ClusterParams{ConfigPath: cfg}})
		if e.Code != api.CodeConfig || e.Data.Category != "config" || !strings.Contains(e.Message, "broken") {
			t.Errorf("error %d %+v %q", e.Code, e.Data, e.Message)
		}
		bad := writeFile(t, filepath.Join(t.TempDir(), "m.json"), "{\n  \"agent\": {\"ttl\": \"x\"}\n}")
		e = callErr(t, f, api.TargetsList, api.TargetsListParams{ClusterParams: api.ClusterParams{ConfigPath: bad}})
		if e.Code != api.CodeConfig || len(e.Data.Issues) == 0 || e.Data.Issues[0].Line != 2 {
			t.Errorf("config issues: %d %+v", e.Code, e.Data)
		}
	}},
	{"namespaces/list", func(t *testing.T, f *fixture) {
		r := call(t, f, api.NamespacesList, api.NamespacesListParams{})
		equal(t, "namespaces", r.Namespaces, []string{"apps", "other"})
		if r.CurrentNamespace != "apps" {
			t.Errorf("current %q", r.CurrentNamespace)
		}
	}},
	{"config/resolve", func(t *testing.T, f *fixture) {
		cfg := writeFile(t, filepath.Join(t.TempDir(), "m.toml"), "[target]\npath = \"deploy/{{ get_env(name=\\\"APP\\\", default=\\\"web\\\") }}\"\nnamespace = \"apps\"\n")
		r := call(t, f, api.ConfigResolve, api.ConfigResolveParams{Path: cfg, Env: map[string]string{"APP": "api"}})
		if !r.TargetSet || r.Target != "deployment/api" || r.Namespace != "apps" || len(r.Errors) != 0 {
			t.Errorf("resolve: %+v", r)
		}
		var m map[string]any
		if err := json.Unmarshal(r.Config, &m); err != nil || m["feature"] == nil {
			t.Errorf("resolved config: %v %s", err, r.Config)
		}
		r = call(t, f, api.ConfigResolve, api.ConfigResolveParams{Overrides: map[string]string{"MIRRORD_IMPERSONATED_TARGET": "pod/x"}})
		if r.Target != "pod/x" {
			t.Errorf("override: %+v", r)
		}
		bad := writeFile(t, filepath.Join(t.TempDir(), "m.json"), `{"feature": {"network": {"incoming": "sideways"}}}`)
		e := callErr(t, f, api.ConfigResolve, api.ConfigResolveParams{Path: bad})
		if e.Code != api.CodeConfig || len(e.Data.Issues) == 0 {
			t.Errorf("bad config: %d %+v", e.Code, e.Data)
		}
	}},
	{"config/validate", func(t *testing.T, f *fixture) {
		r := call(t, f, api.ConfigValidate, api.ConfigValidateParams{Text: "feature:\n  network:\n    incoming: sideways\n", Format: "yaml"})
		if len(r.Diagnostics) == 0 || r.Diagnostics[0].Range != (api.Range{Start: api.Position{Line: 2, Character: 14}, End: api.Position{Line: 2, Character: 22}}) || r.Diagnostics[0].Severity != 1 {
			t.Errorf("diagnostics: %+v", r.Diagnostics)
		}
		good := writeFile(t, filepath.Join(t.TempDir(), "m.json"), `{"target": "deploy/web"}`)
		if r := call(t, f, api.ConfigValidate, api.ConfigValidateParams{Path: good}); len(r.Diagnostics) != 0 && r.Diagnostics[0].Severity == 1 {
			t.Errorf("valid file: %+v", r.Diagnostics)
		}
		e := callErr(t, f, api.ConfigValidate, api.ConfigValidateParams{Text: "{}", Format: "ini"})
		if e.Code != api.CodeInvalidParams {
			t.Errorf("bad format: %d %s", e.Code, e.Message)
		}
	}},
	{"schema/get", func(t *testing.T, f *fixture) {
		r := call(t, f, api.SchemaGet, api.Empty{})
		var m map[string]any
		if err := json.Unmarshal(r.Schema, &m); err != nil || m["properties"] == nil {
			t.Errorf("schema: %v", err)
		}
	}},
	{"config/discover and config/changed", func(t *testing.T, f *fixture) {
		ws := t.TempDir()
		b := writeFile(t, filepath.Join(ws, ".mirrord", "b_mirrord.json"), `{}`)
		r := call(t, f, api.ConfigDiscover, api.ConfigDiscoverParams{WorkspaceFolder: ws})
		if r.Default != b || r.Source != "workspace" {
			t.Errorf("discover: %+v", r)
		}
		r = call(t, f, api.ConfigDiscover, api.ConfigDiscoverParams{WorkspaceFolder: ws, Env: map[string]string{"MIRRORD_CONFIG_FILE": "x.toml"}})
		if r.Source != "env" || r.Default != filepath.Join(ws, "x.toml") {
			t.Errorf("discover with env: %+v", r)
		}
		e := callErr(t, f, api.ConfigDiscover, api.ConfigDiscoverParams{})
		if e.Code != api.CodeInvalidParams || !strings.Contains(e.Message, "workspaceFolder") {
			t.Errorf("no workspace: %d %s", e.Code, e.Message)
		}
		time.Sleep(300 * time.Millisecond) // the watcher's first scan
		a := writeFile(t, filepath.Join(ws, ".mirrord", "a_mirrord.yaml"), "target: pod/x\n")
		raw := f.waitNote(t, api.ConfigChanged.Name, 5*time.Second, func(p json.RawMessage) bool {
			return strings.Contains(string(p), "a_mirrord.yaml")
		})
		var ch api.ConfigChangedParams
		if err := json.Unmarshal(raw, &ch); err != nil {
			t.Fatal(err)
		}
		if ch.Op != "created" || ch.Path != a || ch.WorkspaceFolder != ws || ch.Discover.Source != "env" {
			t.Errorf("changed: %+v", ch)
		}
	}},
	{"textDocument", func(t *testing.T, f *fixture) {
		ctx := context.Background()
		uri := protocol.DocumentURI("file:///ws/.mirrord/mirrord.json")
		text := `{"feature": {"network": {"incoming": {"mode": "sideways"}}}}`
		if err := f.c.NotifyRaw(ctx, api.TextDocumentDidOpen, protocol.DidOpenTextDocumentParams{TextDocument: protocol.TextDocumentItem{URI: uri, LanguageID: "json", Version: 1, Text: text}}); err != nil {
			t.Fatal(err)
		}
		raw := f.waitNote(t, api.TextDocumentPublishDiagnostics, 5*time.Second, nil)
		var pd protocol.PublishDiagnosticsParams
		if err := json.Unmarshal(raw, &pd); err != nil || pd.URI != uri || len(pd.Diagnostics) == 0 || pd.Diagnostics[0].Severity != protocol.DiagnosticSeverityError {
			t.Fatalf("diagnostics: %v %s", err, raw)
		}
		if col := strings.Index(text, `"sideways"`); int(pd.Diagnostics[0].Range.Start.Character) != col {
			t.Errorf("diagnostic at %+v, want column %d", pd.Diagnostics[0].Range, col)
		}
		partial := `{"feature": {"network": {"incoming": {"`
		if err := f.c.NotifyRaw(ctx, api.TextDocumentDidChange, protocol.DidChangeTextDocumentParams{
			TextDocument:   protocol.VersionedTextDocumentIdentifier{TextDocumentIdentifier: protocol.TextDocumentIdentifier{URI: uri}, Version: 2},
			ContentChanges: []protocol.TextDocumentContentChangeEvent{{Text: partial}},
		}); err != nil {
			t.Fatal(err)
		}
		var list protocol.CompletionList
		if err := f.c.CallRaw(ctx, api.TextDocumentCompletion, protocol.CompletionParams{TextDocumentPositionParams: protocol.TextDocumentPositionParams{
			TextDocument: protocol.TextDocumentIdentifier{URI: uri}, Position: protocol.Position{Line: 0, Character: uint32(len(partial))}}}, &list); err != nil {
			t.Fatal(err)
		}
		var labels []string
		for _, it := range list.Items {
			labels = append(labels, it.Label)
		}
		for _, want := range []string{"mode", "http_filter", "port_mapping"} {
			if !slices.Contains(labels, want) {
				t.Errorf("completion lacks %s: %v", want, labels)
			}
		}
		var hover protocol.Hover
		if err := f.c.CallRaw(ctx, api.TextDocumentHover, protocol.HoverParams{TextDocumentPositionParams: protocol.TextDocumentPositionParams{
			TextDocument: protocol.TextDocumentIdentifier{URI: uri}, Position: protocol.Position{Line: 0, Character: 4}}}, &hover); err != nil {
			t.Fatal(err)
		}
		if hover.Contents.Value == "" {
			t.Errorf("hover on \"feature\": %+v", hover)
		}
		if err := f.c.NotifyRaw(ctx, api.TextDocumentDidClose, protocol.DidCloseTextDocumentParams{TextDocument: protocol.TextDocumentIdentifier{URI: uri}}); err != nil {
			t.Fatal(err)
		}
	}},
	{"sessions/start, list and stop", sessionsCase},
	{"shutdown and exit", func(t *testing.T, f *fixture) {
		call(t, f, api.Shutdown, api.Empty{})
		e := callErr(t, f, api.DaemonStatus, api.Empty{})
		if e.Code != api.CodeInvalidRequest {
			t.Errorf("after shutdown: %d %s", e.Code, e.Message)
		}
		if err := client.Notify(context.Background(), f.c, api.Exit, api.Empty{}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-f.c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("exit did not close the connection")
		}
	}},
}

func TestMethodsInProcess(t *testing.T) {
	for _, tc := range methodCases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, pipeFixture(t, testOptions(nil))) })
	}
}

func TestMethodsCrossProcess(t *testing.T) {
	for _, tc := range methodCases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, procFixture(t)) })
	}
}
