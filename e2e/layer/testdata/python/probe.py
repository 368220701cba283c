"""The Python row of the layer's runtime matrix: performs the cells named on
the command line and prints "CELL <name> OK <value>" or "CELL <name> ERR
<error>" for each."""
import os
import socket
import sys
import urllib.request


def run(cell):
    if cell == "read":
        with open("/app/test.txt") as f:
            return f.read()
    if cell == "list":
        return ",".join(sorted(os.listdir("/app")))
    if cell == "stat":
        return str(os.stat("/app/test.txt").st_size)
    if cell == "kube":
        with open(os.path.join(os.environ["HOME"], ".kube", "config")) as f:
            return f.read()
    if cell == "http":
        with urllib.request.urlopen("http://internal-only.mirrord-e2e.svc/", timeout=10) as r:
            return r.read().decode()
    if cell == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(os.environ["PROBE_TOKEN"].encode(), ("udp-logger.mirrord-e2e.svc", 31415))
        s.close()
        return "sent"
    if cell in ("resolve-web", "resolve-k8s"):
        name = {"resolve-web": "web", "resolve-k8s": "kubernetes.default.svc"}[cell]
        return socket.getaddrinfo(name, None, socket.AF_INET)[0][4][0]
    if cell == "hostname":
        return socket.gethostname()
    if cell == "peer":
        s = socket.create_connection(("internal-only.mirrord-e2e.svc", 80), timeout=10)
        ip, port = s.getpeername()[:2]
        s.close()
        return "%s:%d" % (ip, port)
    raise ValueError("unknown cell " + cell)


for cell in sys.argv[1:]:
    try:
        v = run(cell)
        print("CELL %s OK %s" % (cell, v.strip().replace("\n", "\\n")), flush=True)
    except Exception as e:  # every failure is a cell result
        print("CELL %s ERR %s: %s" % (cell, type(e).__name__, str(e).replace("\n", "\\n")), flush=True)
