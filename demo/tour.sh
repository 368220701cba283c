#!/usr/bin/env bash
# A short tour of what works now. Each command is printed before it runs.
set -uo pipefail
cd "$(dirname "$0")/.."
M=./bin/mirrord
run() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }
run $M version
run $M verify-config demo/good.yaml
run env TARGET=pod/web-0 $M verify-config --ide demo/good.yaml
run $M verify-config demo/bad.toml
printf '\n\033[1m$ %s\033[0m\n' "$M schema | head -c 400"; $M schema | head -c 400; echo
echo
echo "Next: the local cluster (make cluster) and mirrord exec/ls/port-forward arrive with issues 3 and 4."
