package layer_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/layer"
	"github.com/mirrord-go/mirrord/schema"
)

// runHelper runs the test binary as a helper program instead of tests.
func runHelper(mode string, args []string) int {
	switch mode {
	case "exec":
		// A mirrord stand-in: supervises args with a fake agent, so a test
		// can kill the supervisor and watch the program.
		return helperExec(args)
	case "openbench", "readbench":
		n, _ := strconv.Atoi(args[0])
		ns, err := loop(mode, n, args[1:])
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		fmt.Printf("%.1f\n", ns)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", mode)
	return 2
}

func helperExec(args []string) int {
	tb := &helperTB{}
	client := newFakeAgent().start(tb)
	self, _ := os.Executable()
	env := os.Environ()
	for i, e := range env {
		if len(e) > len(helperEnv) && e[:len(helperEnv)+1] == helperEnv+"=" {
			env[i] = helperEnv + "="
		}
	}
	code, err := layer.Exec(context.Background(), layer.ExecOptions{
		Argv: args, Env: env, Session: client, Features: schema.Default().Feature, Self: self,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// loop times n iterations of a syscall in this (possibly supervised)
// process and returns ns per iteration.
func loop(mode string, n int, args []string) (float64, error) {
	start := time.Now()
	switch mode {
	case "openbench":
		for range n {
			fd, err := syscall.Open(args[0], syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				return 0, err
			}
			syscall.Close(fd)
		}
	case "readbench":
		fd, err := syscall.Open("/dev/zero", syscall.O_RDONLY, 0)
		if err != nil {
			return 0, err
		}
		defer syscall.Close(fd)
		var b [1]byte
		for range n {
			if _, err := syscall.Read(fd, b[:]); err != nil {
				return 0, err
			}
		}
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n), nil
}

// helperTB lets the fake agent run outside a test.
type helperTB struct{ testing.TB }

func (*helperTB) Helper()                   {}
func (*helperTB) Cleanup(func())            {}
func (*helperTB) Fatal(args ...any)         { fmt.Fprintln(os.Stderr, args...); os.Exit(3) }
func (*helperTB) Fatalf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...); os.Exit(3) }
