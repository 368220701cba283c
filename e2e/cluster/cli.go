//go:build linux

package cluster

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const cliUsage = `usage: cluster <command> [flags]   (state dir: $CLUSTER_DIR, default ` + DefaultDir + `)
commands:
  up            build if needed, start, deploy the sample workloads, wait until all Ready
  down [--wipe] stop everything; --wipe also deletes the cluster state
  status        components, node and pods
  check-clean   exit 1 and list what is left of the cluster on this host
  kubeconfig    print the kubeconfig path (--laptop: the one for the laptop netns)`

// Main is the cluster command (e2e/cluster/cmd/cluster): it parses args,
// runs one command and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, cliUsage)
		return 2
	}
	fs := flag.NewFlagSet("cluster "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", DirFromEnv(), "state directory")
	wait := fs.Duration("wait", 120*time.Second, "bound of each wait for a component or the workloads")
	var src, nodeIP *string
	var wipe, laptop *bool
	switch args[0] {
	case "up":
		src = fs.String("src", "", "repository root (default: found from the working directory)")
		nodeIP = fs.String("node-ip", os.Getenv("NODE_IP"), "node address (default: address of the default route's interface)")
	case "down":
		wipe = fs.Bool("wipe", false, "also delete the cluster state (etcd, containerd, kubelet)")
	case "kubeconfig":
		laptop = fs.Bool("laptop", false, "print the kubeconfig for use inside the laptop netns")
	case "status", "check-clean":
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, cliUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n%s\n", args[0], cliUsage)
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	c, err := New(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "cluster:", err)
		return 1
	}
	c.Wait, c.Out = *wait, stdout
	c.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: dropTime}))
	if args[0] == "up" || args[0] == "down" {
		unlock, lerr := c.lock()
		if lerr != nil {
			fmt.Fprintln(stderr, "cluster:", lerr)
			return 1
		}
		defer unlock()
	}
	switch args[0] {
	case "up":
		c.NodeIP = *nodeIP
		if c.SrcDir = *src; c.SrcDir == "" {
			c.SrcDir, err = findRepoRoot()
		}
		if err == nil {
			err = c.Up(ctx)
		}
	case "down":
		err = c.Down(ctx, *wipe)
	case "status":
		err = c.Status(ctx, stdout)
	case "check-clean":
		var left []string
		if left, err = c.CheckClean(ctx); err == nil && len(left) > 0 {
			err = fmt.Errorf("not clean, left on this host:\n  %s", strings.Join(left, "\n  "))
		} else if err == nil {
			fmt.Fprintln(stdout, "clean: no process, iptables chain, bridge, mount or netns of the cluster is left")
		}
	case "kubeconfig":
		if *laptop {
			fmt.Fprintln(stdout, c.LaptopKubeconfig())
		} else {
			fmt.Fprintln(stdout, c.Kubeconfig())
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "cluster %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// dropTime keeps progress lines short: the user sees them as they happen.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// modulePath identifies the repository root by its go.mod.
const modulePath = "github.com/mirrord-go/mirrord"

func findRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if f, err := os.Open(filepath.Join(dir, "go.mod")); err == nil {
			sc := bufio.NewScanner(f)
			sc.Scan()
			f.Close()
			if strings.TrimSpace(sc.Text()) == "module "+modulePath {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository (no go.mod of " + modulePath + " above the working directory) or pass --src")
		}
		dir = parent
	}
}

// lock serialises up and down (two `make cluster` at once would start
// everything twice). It waits for the other command, saying so.
func (c *Cluster) lock() (unlock func(), err error) {
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(c.path(".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		c.Log.Info("waiting for another cluster up/down to finish", "lock", f.Name())
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
	}
	return func() { f.Close() }, nil
}
