// Command pod-tour is the demo's static Go program: it reads the pod's
// file, resolves a cluster service by name and calls it, with Go's own
// resolver and raw syscalls (no libc), which mirrord's layer covers.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	host, _ := os.Hostname()
	fmt.Println("hostname:", host)
	b, err := os.ReadFile("/app/test.txt")
	fmt.Printf("/app/test.txt: %q %v\n", b, errOrEmpty(err))
	addrs, err := net.LookupHost("internal-only")
	fmt.Println("internal-only resolves to", addrs, errOrEmpty(err))
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://internal-only/")
	if err != nil {
		fmt.Println("GET http://internal-only/:", err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("GET http://internal-only/: %s %q\n", resp.Status, body)
}

func errOrEmpty(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}
