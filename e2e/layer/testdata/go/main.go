// Command probe is the Go row of the layer's runtime matrix: it performs
// the cells named on its command line and prints one line per cell,
// "CELL <name> OK <value>" or "CELL <name> ERR <error>". Built twice by
// the test: CGO_ENABLED=0 (static, Go's own resolver) and CGO_ENABLED=1
// (libc's resolver, with GODEBUG=netdns=cgo).
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func main() {
	for _, cell := range os.Args[1:] {
		v, err := run(cell)
		if err != nil {
			fmt.Printf("CELL %s ERR %s\n", cell, oneLine(err.Error()))
			continue
		}
		fmt.Printf("CELL %s OK %s\n", cell, oneLine(v))
	}
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "\\n") }

func run(cell string) (string, error) {
	switch cell {
	case "read":
		b, err := os.ReadFile("/app/test.txt")
		return string(b), err
	case "list":
		es, err := os.ReadDir("/app")
		if err != nil {
			return "", err
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		return strings.Join(names, ","), nil
	case "stat":
		fi, err := os.Stat("/app/test.txt")
		if err != nil {
			return "", err
		}
		return fmt.Sprint(fi.Size()), nil
	case "kube":
		b, err := os.ReadFile(filepath.Join(os.Getenv("HOME"), ".kube", "config"))
		return string(b), err
	case "http":
		c := &http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://internal-only.mirrord-e2e.svc/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	case "udp":
		c, err := net.Dial("udp", "udp-logger.mirrord-e2e.svc:31415")
		if err != nil {
			return "", err
		}
		defer c.Close()
		_, err = c.Write([]byte(os.Getenv("PROBE_TOKEN")))
		return "sent", err
	case "resolve-web", "resolve-k8s":
		name := map[string]string{"resolve-web": "web", "resolve-k8s": "kubernetes.default.svc"}[cell]
		addrs, err := net.LookupHost(name)
		if err != nil {
			return "", err
		}
		return addrs[0], nil
	case "hostname":
		return os.Hostname()
	case "peer":
		c, err := net.DialTimeout("tcp", "internal-only.mirrord-e2e.svc:80", 10*time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		return c.RemoteAddr().String(), nil
	}
	return "", fmt.Errorf("unknown cell %q", cell)
}
