#!/usr/bin/env bash
# Prints the layer's figures against the local cluster (make cluster), from
# the laptop netns: a `mirrord runner` session against deploy/web is started
# once, and programs launched with its env (launch model b) are compared
# with the same programs without mirrord, or with kubectl doing the same job.
#   - import-heavy Python start-up, bare vs under the layer (median of N);
#   - reading a 64 MiB file of the pod: mirrord (FUSE) vs kubectl exec cat;
#   - HTTP request latency to a ClusterIP service: through the agent vs
#     through kubectl port-forward (a new connection per request).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-7}
DIR=${CLUSTER_DIR:-/var/tmp/mirrord-e2e-cluster}
NS=mirrord-e2e
K="$DIR/bin/kubectl --kubeconfig $DIR/kubeconfig -n $NS"
LK="$DIR/bin/kubectl --kubeconfig $DIR/laptop.kubeconfig -n $NS"
M=$PWD/bin/mirrord
L="ip netns exec mirrord-laptop"
PY=$(python3 -c 'import sys; print(sys.executable)')
tmp=$(mktemp -d /tmp/mrdbench.XXXX)
pf=""
runner=""
cleanup() {
  [ -n "$pf" ] && kill "$pf" 2>/dev/null || true
  [ -n "$runner" ] && kill "$runner" 2>/dev/null && wait "$runner" 2>/dev/null || true
  $K exec deploy/web -- rm -f /app/big 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.4f\n", b - a}'; }

# The session: the runner prints one JSON line with the env to lay over.
mkfifo "$tmp/out"
XDG_RUNTIME_DIR=$tmp KUBECONFIG=$DIR/laptop.kubeconfig MIRRORD_PROGRESS_MODE=off \
  $L "$M" runner -t deploy/web -n $NS --grace 10m --start-timeout 10m >"$tmp/out" 2>"$tmp/runner.log" &
runner=$!
read -r line <"$tmp/out"
echo "$line" | $PY -c 'import json,sys,shlex; r=json.load(sys.stdin); print("\n".join("export %s=%s" % (k, shlex.quote(v)) for k, v in r["env"].items())); print("\n".join("unset %s" % k for k in r["unset"]))' >"$tmp/env.sh"
under() { $L bash -c "source $tmp/env.sh; $*"; }
bare() { $L bash -c "$*"; }

# 1. Python start-up with many imports (each import opens and stats files).
IMPORTS='import json, asyncio, email.mime.text, http.client, unittest, xml.dom.minidom, decimal, argparse, logging.handlers, sqlite3, urllib.request, csv, zipfile, tarfile, html.parser'
py_once() { local t0 t1; t0=$(now); "$@" "$PY -c '$IMPORTS'"; t1=$(now); took "$t0" "$t1"; }
py_once bare >/dev/null; py_once under >/dev/null
pb=$(for _ in $(seq "$N"); do py_once bare; done | median)
pu=$(for _ in $(seq "$N"); do py_once under; done | median)
echo "python import-heavy start-up: bare ${pb}s, under the layer ${pu}s, ratio $(awk -v a="$pu" -v b="$pb" 'BEGIN{printf "%.2f", a/b}') (median of $N)"

# 2. A 64 MiB file of the pod.
$K exec deploy/web -- dd if=/dev/urandom of=/app/big bs=1048576 count=64 2>/dev/null
rd_kubectl() { local t0 t1; t0=$(now); $L $LK exec deploy/web -- cat /app/big >/dev/null; t1=$(now); took "$t0" "$t1"; }
rd_mirrord() { local t0 t1; t0=$(now); under "cat /app/big >/dev/null"; t1=$(now); took "$t0" "$t1"; }
got=$(under "cat /app/big | wc -c")
[ "$got" = 67108864 ] || { echo "reading /app/big under the layer gave $got bytes" >&2; exit 1; }
rk=$(for _ in 1 2 3; do rd_kubectl; done | median)
rm=$(for _ in 1 2 3; do rd_mirrord; done | median)
echo "64 MiB remote read: kubectl exec cat ${rk}s ($(awk -v t="$rk" 'BEGIN{printf "%.1f", 64/t}') MiB/s), mirrord ${rm}s ($(awk -v t="$rm" 'BEGIN{printf "%.1f", 64/t}') MiB/s), mirrord/kubectl throughput $(awk -v a="$rk" -v b="$rm" 'BEGIN{printf "%.2f", a/b}')x (median of 3)"

# 3. HTTP latency, a new connection per request.
cat >"$tmp/bench_http.py" <<'EOF'
import http.client, sys, time
import socket
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host = socket.gethostbyname(host)  # once: DNS is not what is measured
ts = []
for i in range(n + 3):
    t0 = time.perf_counter()
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", "/")
    body = c.getresponse().read()
    c.close()
    assert body.startswith(b"GET from pod internal-only"), body
    if i >= 3:
        ts.append(time.perf_counter() - t0)
ts.sort()
print("%.3f" % (ts[len(ts) // 2] * 1000))
EOF
$L $LK port-forward svc/internal-only 18181:80 >/dev/null 2>&1 &
pf=$!
for _ in $(seq 50); do $L bash -c 'exec 3<>/dev/tcp/127.0.0.1/18181' 2>/dev/null && break; sleep 0.2; done
hp=$(bare "$PY $tmp/bench_http.py 127.0.0.1 18181 100")
ha=$(under "$PY $tmp/bench_http.py internal-only.$NS.svc 80 100")
echo "HTTP GET latency (p50 of 100, new connection each): kubectl port-forward ${hp} ms, through the agent ${ha} ms, ratio $(awk -v a="$ha" -v b="$hp" 'BEGIN{printf "%.2f", a/b}')"
