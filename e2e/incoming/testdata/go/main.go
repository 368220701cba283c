// Command matrix is the Go rows of the incoming steal language matrix. It
// listens on :80 (every address), answers every request (GET /healthz too,
// since the kubelet's probes are stolen with the rest) with
// "LOCAL <lang> <path> peer=<ip>", where <ip> is the peer accept() gave
// net/http, and prints one JSON line per request. The test builds it twice:
// CGO_ENABLED=0 (static) and CGO_ENABLED=1 -tags netcgo (dynamically
// linked, libc's resolver); <lang> is its only argument.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
)

func main() {
	lang := "go"
	if len(os.Args) > 1 {
		lang = os.Args[1]
	}
	// Exercise the resolver once, so the cgo build really calls libc.
	_, _ = net.LookupHost("localhost")
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			peer = r.RemoteAddr
		}
		b, _ := json.Marshal(map[string]string{"ev": "req", "lang": lang, "path": r.URL.Path, "peer": peer})
		mu.Lock()
		os.Stdout.Write(append(b, '\n'))
		mu.Unlock()
		fmt.Fprintf(w, "LOCAL %s %s peer=%s\n", lang, r.URL.Path, peer)
	})
	if err := http.ListenAndServe(":80", h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
