//go:build e2e

package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/e2e/internal/e2eenv"
)

// lspPipe speaks LSP framing to a `mirrord daemon connect` process, as an
// editor that starts a language server over stdio does.
type lspPipe struct {
	in  io.WriteCloser
	out *bufio.Reader
}

func (p *lspPipe) send(t *testing.T, msg map[string]any) {
	t.Helper()
	msg["jsonrpc"] = "2.0"
	b, _ := json.Marshal(msg)
	if _, err := fmt.Fprintf(p.in, "Content-Length: %d\r\n\r\n%s", len(b), b); err != nil {
		t.Fatal(err)
	}
}

func (p *lspPipe) recv(t *testing.T) map[string]any {
	t.Helper()
	n := -1
	for {
		line, err := p.out.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a header: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(p.out, body); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %s", body)
	}
	return m
}

// until reads messages until one satisfies ok.
func (p *lspPipe) until(t *testing.T, what string, ok func(map[string]any) bool) map[string]any {
	t.Helper()
	found := make(chan map[string]any, 1)
	go func() {
		for {
			m := p.recv(t)
			if ok(m) {
				found <- m
				return
			}
		}
	}()
	select {
	case m := <-found:
		return m
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s within 20 s", what)
		return nil
	}
}

// TestStdioBridge: `mirrord daemon connect` starts the daemon and carries
// an LSP session over stdio: initialize, diagnostics for a bad TOML config
// and completion inside feature.network.incoming.
func TestStdioBridge(t *testing.T) {
	bin := e2eenv.MirrordPath(t)
	rt := t.TempDir()
	env := append(os.Environ(), "XDG_RUNTIME_DIR="+rt, "XDG_STATE_HOME="+rt)
	cmd := exec.Command(bin, "daemon", "connect")
	cmd.Env = env
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
		stop := exec.Command(bin, "daemon", "stop")
		stop.Env = env
		if b, err := stop.CombinedOutput(); err != nil {
			t.Errorf("mirrord daemon stop: %v\n%s", err, b)
		}
	})
	p := &lspPipe{in: in, out: bufio.NewReader(out)}
	p.send(t, map[string]any{"id": 1, "method": "initialize", "params": map[string]any{"processId": os.Getpid(), "clientInfo": map[string]any{"name": "stdio-e2e"}}})
	init := p.until(t, "initialize result", func(m map[string]any) bool { return m["id"] == float64(1) })
	if res, ok := init["result"].(map[string]any); !ok || res["capabilities"] == nil {
		t.Fatalf("initialize: %v (stderr %s)", init, stderr.String())
	}
	p.send(t, map[string]any{"method": "initialized", "params": map[string]any{}})

	uri := "file://" + rt + "/.mirrord/mirrord.toml"
	text := "[feature.network.incoming]\nmode = \"sideways\"\n"
	p.send(t, map[string]any{"method": "textDocument/didOpen", "params": map[string]any{"textDocument": map[string]any{"uri": uri, "languageId": "toml", "version": 1, "text": text}}})
	diag := p.until(t, "publishDiagnostics", func(m map[string]any) bool { return m["method"] == "textDocument/publishDiagnostics" })
	ds, _ := diag["params"].(map[string]any)["diagnostics"].([]any)
	if len(ds) == 0 {
		t.Fatalf("no diagnostic for mode = \"sideways\": %v", diag)
	}
	d := ds[0].(map[string]any)
	start := d["range"].(map[string]any)["start"].(map[string]any)
	if start["line"] != float64(1) || !strings.Contains(fmt.Sprint(d["message"]), "sideways") {
		t.Errorf("diagnostic %v, want line 1 (0-based) naming the value", d)
	}

	p.send(t, map[string]any{"id": 2, "method": "textDocument/completion", "params": map[string]any{
		"textDocument": map[string]any{"uri": uri}, "position": map[string]any{"line": 2, "character": 0}}})
	comp := p.until(t, "completion result", func(m map[string]any) bool { return m["id"] == float64(2) })
	b, _ := json.Marshal(comp["result"])
	for _, want := range []string{"http_filter", "port_mapping"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("completion at the end of [feature.network.incoming] lacks %s: %s", want, b)
		}
	}
}
