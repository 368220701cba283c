package layer_test

import (
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mirrord-go/mirrord/schema"
)

// pyFeatures keeps the Python installation local. The tests give the
// program a temporary HOME, so an interpreter under the real home (pyenv)
// is not in the default local set and would be looked up in the pod, as
// upstream mirrord would do too.
func pyFeatures(t *testing.T, python string) schema.FeatureConfig {
	f := defaultFeatures()
	out, err := exec.Command(python, "-c", "import sys; print(sys.base_prefix)").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{python, strings.TrimSpace(string(out))} {
		if i := strings.Index(p, "/.pyenv/"); i >= 0 {
			p = p[:i+len("/.pyenv")]
		}
		f.FS.Local = append(f.FS.Local, "^"+regexp.QuoteMeta(p)+"(/|$)")
	}
	return f
}

func TestCGlibc(t *testing.T) {
	w := newWorld(t)
	probe := cProbe(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"hostname", []string{"hostname"}, "fake-pod-7d9f"},
		{"getaddrinfo", []string{"resolve", "web"}, "127.0.0.77"},
		{"remote file", []string{"read", "/app/test.txt"}, "hello from the pod"},
		{"connect and getpeername", []string{"get", "127.0.0.77", "80"}, "peer=127.0.0.77:80 body=hello from web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.run(t, defaultFeatures(), append([]string{probe}, tt.args...)...).expect(t, tt.want)
		})
	}
}

const pyProbe = `
import socket, sys, urllib.request
print("host=" + socket.gethostname())
print("ip=" + socket.gethostbyname("web"))
print("file=" + open("/app/test.txt").read().strip())
s = socket.create_connection(("web", 80))
print("peer=%s:%d" % s.getpeername())
s.close()
print("http=" + urllib.request.urlopen("http://web/", timeout=10).read().decode().strip())
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(10)
u.sendto(b"ping", ("127.0.0.99", 9999))
data, src = u.recvfrom(100)
print("udp=%s from %s:%d" % (data.decode(), src[0], src[1]))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s6.connect(("::ffff:127.0.0.77", 80))
print("peer6=[%s]:%d" % s6.getpeername()[:2])
s6.close()
try:
    open(sys.argv[1])
    print("kube=visible")
except FileNotFoundError:
    print("kube=not found")
`

func TestPython(t *testing.T) {
	python := need(t, "python3")
	w := newWorld(t)
	r := w.run(t, pyFeatures(t, python), python, "-c", pyProbe, w.home+"/.kube/config")
	for _, want := range []string{"host=fake-pod-7d9f", "ip=127.0.0.77", "file=hello from the pod", "peer=127.0.0.77:80", "http=hello from web", "kube=not found",
		"udp=PING from 127.0.0.99:9999", "peer6=[::ffff:127.0.0.77]:80"} {
		r.expect(t, want)
	}
}

func TestCurl(t *testing.T) {
	curl := need(t, "curl")
	w := newWorld(t)
	w.run(t, defaultFeatures(), curl, "-sS", "--max-time", "10", "http://web/").expect(t, "hello from web")
}

// TestChildren: a shell and its children (cat, a static Go program,
// python) are all covered by the one filter.
func TestChildren(t *testing.T) {
	python := need(t, "python3")
	w := newWorld(t)
	probe := goProbe(t)
	script := fmt.Sprintf(`cat /app/test.txt; %s hostname; %s -c 'import socket; print("py=" + socket.gethostname())'; echo size=$(stat -c %%s /app/test.txt)`, probe, python)
	r := w.run(t, pyFeatures(t, python), "/bin/bash", "-c", script)
	for _, want := range []string{"hello from the pod", "fake-pod-7d9f", "py=fake-pod-7d9f", "size=19"} {
		r.expect(t, want)
	}
}

// TestConcurrentOpens: threads opening remote files at once each get
// their own, correct fd (the ADDFD|SEND race would return fd 0).
func TestConcurrentOpens(t *testing.T) {
	python := need(t, "python3")
	w := newWorld(t)
	const script = `
import threading
bad = []
def worker():
    for _ in range(100):
        with open("/app/test.txt") as f:
            s = f.read()
        if s != "hello from the pod\n":
            bad.append(s)
ts = [threading.Thread(target=worker) for _ in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print("bad=%d" % len(bad))
`
	r := w.run(t, pyFeatures(t, python), python, "-c", script)
	r.expect(t, "bad=0")
	if n := w.agent.opens.Load(); n < 800 {
		t.Errorf("the agent saw %d opens, want 800", n)
	}
}

// TestParallelSessions runs several supervised programs at once in one
// process, as the daemon will.
func TestParallelSessions(t *testing.T) {
	w := newWorld(t)
	probe := goProbe(t)
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := w.run(t, defaultFeatures(), probe, "get", "web:80")
			if r.err != nil || !strings.Contains(r.out, "body=hello from web") {
				errs <- fmt.Sprintf("session %d: %v %s", i, r.err, r.out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

const nodeProbe = `
const dns = require("dns"), http = require("http"), fs = require("fs"), os = require("os");
console.log("host=" + os.hostname());
console.log("file=" + fs.readFileSync("/app/test.txt", "utf8").trim());
dns.resolve4("web.mirrord-e2e.svc.cluster.local", (err, addrs) => {
  console.log("resolve4=" + (err ? err.code : addrs.join(",")));
  dns.lookup("web", 4, (err, addr) => {
    console.log("lookup=" + (err ? err.code : addr));
    http.get("http://web/", res => {
      let body = "";
      const peer = res.socket.remoteAddress;
      res.on("data", d => body += d);
      res.on("end", () => console.log("http=" + body.trim() + " peer=" + peer));
    }).on("error", e => console.log("http error " + e.code));
  });
});
`

func TestNode(t *testing.T) {
	node := need(t, "node")
	w := newWorld(t)
	r := w.run(t, defaultFeatures(), node, "-e", nodeProbe)
	for _, want := range []string{"host=fake-pod-7d9f", "file=hello from the pod", "resolve4=127.0.0.77", "lookup=127.0.0.77", "http=hello from web peer=127.0.0.77"} {
		r.expect(t, want)
	}
}
