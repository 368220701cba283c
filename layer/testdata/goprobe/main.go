// Package main is goprobe, a static Go program (built with CGO_ENABLED=0 by the layer's
// tests) that exercises what the layer intercepts, one command per run,
// and prints plain results for the tests to compare.
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: goprobe CMD ARGS")
	}
	switch args[0] {
	case "read":
		b, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		fmt.Print(string(b))
	case "write":
		if err := os.WriteFile(args[1], []byte("written\n"), 0o644); err != nil {
			return err
		}
		fmt.Println("wrote", args[1])
	case "stat":
		fi, err := os.Stat(args[1])
		if err != nil {
			return err
		}
		fmt.Println(fi.Size())
	case "hostname":
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		fmt.Println(h)
	case "resolve":
		r := &net.Resolver{PreferGo: true}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		addrs, err := r.LookupHost(ctx, args[1])
		if err != nil {
			return err
		}
		fmt.Println(strings.Join(addrs, ","))
	case "get":
		// A raw HTTP GET so the probe shows the peer address too.
		c, err := net.DialTimeout("tcp", args[1], 10*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		host := args[1]
		if len(args) > 2 {
			host = args[2]
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: %s\r\n\r\n", host)
		br := bufio.NewReader(c)
		var body strings.Builder
		inBody := false
		for {
			line, err := br.ReadString('\n')
			if inBody {
				body.WriteString(line)
			} else if line == "\r\n" {
				inBody = true
			}
			if err != nil {
				break
			}
		}
		fmt.Printf("peer=%s body=%s\n", c.RemoteAddr(), strings.TrimSpace(body.String()))
	case "udp":
		c, err := net.Dial("udp", args[1])
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(args[2])); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil {
			return err
		}
		fmt.Printf("peer=%s reply=%s\n", c.RemoteAddr(), buf[:n])
	case "openloop":
		// Opens a file until open fails, then reports the errno: used to
		// see what the program gets once its supervisor is gone.
		fmt.Println("ready")
		for i := 0; ; i++ {
			fd, err := syscall.Open(args[1], syscall.O_RDONLY, 0)
			if err != nil {
				fmt.Printf("open failed after %d: %v\n", i, err)
				return nil
			}
			syscall.Close(fd)
			time.Sleep(time.Millisecond)
		}
	case "exit":
		var code int
		fmt.Sscan(args[1], &code)
		os.Exit(code)
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}
