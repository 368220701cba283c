#!/usr/bin/env bash
# The guided tour: each command is printed before it runs. mirrord runs in
# the "laptop" network namespace, which reaches the cluster's API server and
# nothing else, as a developer's machine would.
set -euo pipefail
cd "$(dirname "$0")/.."
M=$PWD/bin/mirrord
DIR=${CLUSTER_DIR:-/var/tmp/mirrord-e2e-cluster}
NS=mirrord-e2e
export KUBECONFIG=$DIR/laptop.kubeconfig MIRRORD_PROGRESS_MODE=${MIRRORD_PROGRESS_MODE:-dumb}
KUBECTL="$DIR/bin/kubectl --kubeconfig $DIR/kubeconfig"

say() { printf '\n\033[36m# %s\033[0m\n' "$*"; }
show() { printf '\033[1mlaptop$ %s\033[0m\n' "$*"; }
laptop() { show "$*"; ip netns exec mirrord-laptop "$@"; }
mirrord() { show "mirrord $*"; ip netns exec mirrord-laptop "$M" "$@"; }

say "The config model: a file with a mistake gets file:line:col and a hint."
mirrord verify-config demo/bad.toml | head -n 12

IP=$($KUBECTL -n $NS get svc internal-only -o jsonpath='{.spec.clusterIP}')
say "internal-only ($IP) is a cluster-only service: the laptop cannot reach it."
show "curl --max-time 2 http://$IP/"
ip netns exec mirrord-laptop curl -sS --max-time 2 "http://$IP/" || true

say "mirrord ls lists what you can target."
mirrord ls -n $NS

say "mirrord exec runs a local program with the pod's environment."
mirrord exec -t deploy/web -n $NS -- sh -c 'env | grep ^MIRRORD_FAKE | sort; echo "local PATH kept: $PATH"'

say "mirrord port-forward -L makes cluster-only services local (names resolve in the cluster)."
show "mirrord port-forward -t deploy/web -n $NS -L 18080:internal-only:80 &"
ip netns exec mirrord-laptop "$M" port-forward -t deploy/web -n $NS -L 18080:internal-only:80 &
PF=$!
trap 'kill $PF 2>/dev/null || true' EXIT
for _ in $(seq 50); do ip netns exec mirrord-laptop curl -s -o /dev/null --max-time 1 http://127.0.0.1:18080/ && break; sleep 0.2; done
laptop curl -sS http://127.0.0.1:18080/
kill -INT $PF; wait $PF || true
trap - EXIT

say "The layer: a static Go binary (no libc, Go's own DNS resolver) runs in the pod's context: its file, hostname, DNS and network."
show "ldd bin/pod-tour"; ldd bin/pod-tour 2>&1 || true
mirrord exec -t deploy/web -n $NS -- bin/pod-tour

say "The same for a Python script: nothing to install in the pod, no code change."
mirrord exec -t deploy/web -n $NS -- python3 demo/pod-tour.py

say "Incoming traffic. A client pod in the cluster calls the web Service twice a second: one plain request and one tagged x-mirrord-demo: me."
show "kubectl -n $NS run tour-client ..."
$KUBECTL -n $NS delete pod tour-client --ignore-not-found --grace-period=0 >/dev/null 2>&1 || true
IMG=$($KUBECTL -n $NS get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}')
$KUBECTL -n $NS run tour-client --image="$IMG" --image-pull-policy=Never --restart=Never --command -- sh -c \
  'i=0; while true; do i=$((i+1)); echo "plain $i: $(wget -qO- http://web/plain-$i)"; echo "tagged $i: $(wget -qO- --header "x-mirrord-demo: me" http://web/tagged-$i)"; sleep 0.5; done' >/dev/null
trap '$KUBECTL -n $NS delete pod tour-client --grace-period=0 --wait=false >/dev/null 2>&1 || true' EXIT
$KUBECTL -n $NS wait --for=condition=Ready pod/tour-client --timeout=60s >/dev/null
# incoming runs the local server under mirrord for a few seconds, then shows
# what the client pod got meanwhile.
incoming() {
  local since; since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  show "mirrord exec $* -- python3 demo/local-server.py"
  ip netns exec mirrord-laptop timeout -s INT 8 "$M" exec "$@" -- python3 -u demo/local-server.py || true
  show "kubectl logs tour-client (what the client got meanwhile)"
  $KUBECTL -n $NS logs tour-client --since-time="$since" | tail -n 6
}
say "mirror (the default): the local app gets a copy of each request; the pod still answers the client."
incoming -t deploy/web -n $NS
say "steal: the local app answers instead of the pod."
incoming -t deploy/web -n $NS --steal
say "steal with a header filter (demo/steal-filter.json): only the tagged requests are answered locally."
incoming -t deploy/web -n $NS -f demo/steal-filter.json
$KUBECTL -n $NS delete pod tour-client --grace-period=0 --wait=false >/dev/null 2>&1 || true
trap - EXIT

say "Nothing is left behind: the agent Jobs are gone."
sleep 2
show "kubectl -n $NS get jobs -l app=mirrord"
$KUBECTL -n $NS get jobs -l app=mirrord 2>&1
