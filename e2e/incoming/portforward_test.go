//go:build e2e

package incoming_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestPortForwardReverse: `mirrord port-forward -R 80:18081` delivers the
// pod's traffic to a local server that mirrord does not run, stolen as the
// -f config says, and mirrored by default.
func TestPortForwardReverse(t *testing.T) {
	c := getCluster(t)
	srv := startCmd(t, func(ctx context.Context) *exec.Cmd {
		return c.e.LaptopCommand(ctx, server(t), "-addr", "127.0.0.1:18081", "-name", "forwarded")
	})
	waitListening(t, srv)

	t.Run("steal from -f", func(t *testing.T) {
		cfg := writeConfig(t, webConfig(c.e, `{"mode":"steal"}`))
		pf := startCmd(t, func(ctx context.Context) *exec.Cmd {
			return c.e.Mirrord(t, ctx, "port-forward", "-f", cfg, "-R", "80:18081")
		})
		c.waitLocal(t, "/reverse", nil, 60*time.Second)
		body, err := get(context.Background(), c.httpClient(false), c.web("/reverse-1"), nil)
		if err != nil || body != "LOCAL forwarded /reverse-1\n" {
			t.Fatalf("want the local server's answer through -R, got %q %v", body, err)
		}
		if !strings.Contains(pf.stderr.String(), "forwarding the target's port 80 -> 127.0.0.1:18081 (steal)") {
			t.Errorf("port-forward did not say what it forwards:\n%s", pf.stderr.String())
		}
		pf.stop()
		c.podServes(t, 10*time.Second)
	})
	t.Run("mirror by default", func(t *testing.T) {
		pf := startCmd(t, func(ctx context.Context) *exec.Cmd {
			return c.e.Mirrord(t, ctx, "port-forward", "-t", "deployment/web", "-n", c.e.Namespace, "-R", "80:18081")
		})
		path := "/reverse-mirror-" + nonce()
		deadline := time.Now().Add(60 * time.Second)
		for len(srv.requests(path)) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no mirrored copy reached the local server within 60s:\n%s", pf.stderr.String())
			}
			body, err := get(context.Background(), c.httpClient(false), c.web(path), nil)
			if err != nil || !fromPod(body) {
				t.Fatalf("mirror: the pod must answer, got %q %v", body, err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		pf.stop()
	})
	c.noRules(t, 30*time.Second)
}
