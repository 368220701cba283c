#!/usr/bin/env bash
# Prints the time from starting `mirrord exec` to the child process running,
# median of N runs (default 10), for a targeted Job agent and for an
# ephemeral container agent. Runs from the laptop netns against the local
# cluster (make cluster). Ephemeral runs use a throwaway pod per run, since
# ephemeral containers can never be removed from a pod.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-10}
DIR=${CLUSTER_DIR:-/var/tmp/mirrord-e2e-cluster}
K="$DIR/bin/kubectl --kubeconfig $DIR/kubeconfig"
M=$PWD/bin/mirrord
NS=mirrord-e2e
export KUBECONFIG=$DIR/laptop.kubeconfig MIRRORD_PROGRESS_MODE=off

one() { # prints seconds from start to the child's first instruction
  local t0 t1
  t0=$(date +%s.%N)
  t1=$(ip netns exec mirrord-laptop "$M" exec "$@" -- date +%s.%N | tail -1)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f\n", b - a}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

job=$(for _ in $(seq "$N"); do one -t deploy/web -n $NS; done | median)
echo "targeted Job:        median ${job}s over $N runs (exec -> child start)"

IMG=$($K -n $NS get deploy web -o jsonpath='{.spec.template.spec.containers[0].image}')
eph=$(for i in $(seq "$N"); do
  $K -n $NS run "bench-eph-$i" --image="$IMG" --image-pull-policy=Never --restart=Never -- web >/dev/null
  $K -n $NS wait --for=condition=Ready "pod/bench-eph-$i" --timeout=60s >/dev/null
  one -e -t "pod/bench-eph-$i" -n $NS
  $K -n $NS delete pod "bench-eph-$i" --grace-period=0 --wait=false >/dev/null 2>&1
done | median)
echo "ephemeral container: median ${eph}s over $N runs (exec -> child start)"
