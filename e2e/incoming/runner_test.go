//go:build e2e

package incoming_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStealThroughRunner: the IDE path. `mirrord runner` (what the daemon
// starts per debug session) prints the session's environment; a server an
// IDE launches with it gets the stolen traffic, as under `mirrord exec`.
func TestStealThroughRunner(t *testing.T) {
	c := getCluster(t)
	cfg := writeConfig(t, webConfig(c.e, `{"mode":"steal"}`))
	rt, err := os.MkdirTemp("", "mrd") // short: a unix socket lives in it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	runner := c.e.Mirrord(t, ctx, "runner", "-f", cfg)
	runner.Env = append(runner.Env, "XDG_RUNTIME_DIR="+rt)
	runner.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := runner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-runner.Process.Pid, syscall.SIGTERM)
		_ = runner.Wait()
	})
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		t.Fatalf("the runner printed no environment: %v", err)
	}
	var res struct {
		Env   map[string]string `json:"env"`
		Unset []string          `json:"unset"`
	}
	if err := json.Unmarshal(line, &res); err != nil {
		t.Fatalf("the runner's line %q: %v", line, err)
	}
	app := startCmd(t, func(ctx context.Context) *exec.Cmd {
		cmd := c.e.LaptopCommand(ctx, server(t), "-addr", ":80", "-name", "ide")
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if _, set := res.Env[k]; !set && !contains(res.Unset, k) {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		for k, v := range res.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		return cmd
	})
	c.waitLocal(t, "/ide", nil, 60*time.Second)
	body, err := get(context.Background(), c.httpClient(false), c.web("/ide-1"), nil)
	if err != nil || body != "LOCAL ide /ide-1\n" {
		t.Fatalf("want the IDE-launched server's answer, got %q %v", body, err)
	}
	if reqs := app.requests("/ide-1"); len(reqs) != 1 || !strings.HasPrefix(reqs[0].Peer, c.clientIP+":") {
		t.Fatalf("the IDE-launched server saw %+v, want one request from %s", reqs, c.clientIP)
	}
	app.kill(syscall.SIGTERM)
	<-app.exited
	c.podServes(t, 5*time.Second)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
