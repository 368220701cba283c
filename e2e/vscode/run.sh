#!/usr/bin/env bash
# Runs the VS Code extension's e2e scenarios in real VS Code (code-server)
# against the real mirrord daemon and the local cluster. setup.sh must have
# run; `make build cluster` too (the vscode-e2e make target does all three).
#
# code-server and chromium both run in the `mirrord-laptop` network
# namespace (it reaches only the API server), so the extension host, the
# daemon it autostarts, the session runner and the debuggee live there.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
. "$HERE/env.sh"
ROOT=$VSCODE_E2E_DIR
CLUSTER_DIR=${CLUSTER_DIR:-/var/tmp/mirrord-e2e-cluster}
NETNS=${NETNS:-mirrord-laptop}
PORT=${PORT:-18080}
BIN=$(realpath "${MIRRORD_BIN:-$REPO/bin/mirrord}")
CS="$ROOT/cs/node_modules/.bin/code-server"
VSIX="$ROOT/mirrord-go.vsix"
export SHOTS=${SHOTS:-$ROOT/screenshots}
export KUBECTL=${KUBECTL:-$CLUSTER_DIR/bin/kubectl}

fail() { echo "run.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
[ -x "$CS" ] && [ -f "$VSIX" ] || fail "run $HERE/setup.sh first (VSCODE_E2E_DIR=$ROOT)"
[ -x "$BIN" ] || fail "$BIN is missing: run 'make build'"
[ -f "$CLUSTER_DIR/laptop.kubeconfig" ] || fail "$CLUSTER_DIR/laptop.kubeconfig is missing: run 'make cluster'"
ip netns list | grep -q "^$NETNS\b" || fail "network namespace $NETNS is missing: run 'make cluster'"
[ "$(node --version | cut -d. -f1)" = v24 ] || fail "Node 24 is not first on PATH ($(node --version))"

# The Go build cache, before XDG_CACHE_HOME moves it (scenario 9's release build).
GOCACHE=$(go env GOCACHE) || fail "go is needed (scenario 9 builds a release for the update feed)"
export GOCACHE

# The cleanup is armed before the first temp dir is made, so that a failure
# anywhere (mktemp, the feed's go build, installing the .vsix) leaves nothing
# in /tmp. It only touches what this run made: paths under $RUN, not the
# caller's XDG dirs.
CSPID= FEEDPID= RUN= RUNTIME=
cleanup() {
  rc=$?
  set +e
  [ -z "$FEEDPID" ] || { kill -TERM -- -"$FEEDPID" 2>/dev/null; wait "$FEEDPID" 2>/dev/null; }
  if [ -n "$CSPID" ]; then
    kill -TERM -- -"$CSPID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$CSPID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- -"$CSPID" 2>/dev/null
    wait "$CSPID" 2>/dev/null
    # The daemon the extension autostarted (same XDG_RUNTIME_DIR, same netns).
    # and the one of the release scenario 9 installed (another build: another socket)
    for b in "$BIN" "$RUN"/xdg-data/mirrord/bin/*/mirrord; do
      ip netns exec "$NETNS" "$b" daemon stop >> "$RUN/daemon-stop.log" 2>&1
    done
    echo "daemon stop: $(tr '\n' ' ' < "$RUN/daemon-stop.log")"
    left=$(KUBECONFIG=$CLUSTER_DIR/kubeconfig "$KUBECTL" -n mirrord-e2e get jobs -l app=mirrord -o name 2>/dev/null)
    [ -z "$left" ] || echo "warning: agent jobs left: $left"
  fi
  if [ -n "$RUN" ]; then
    rm -rf "$RUN/feed" "$RUN/xdg-data/mirrord/bin"   # 2 copies of the binary
    cp "$RUN"/xdg-state/mirrord/*.log "$RUN/" 2>/dev/null
    echo "run dir: $RUN (code-server.log, daemon logs, out/); screenshots: $SHOTS"
  fi
  [ -z "$RUNTIME" ] || rm -rf "$RUNTIME"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Fresh per-run dirs: profile, extensions, XDG, TMPDIR, the workspace copy.
RUN=$(mktemp -d "$ROOT/run-XXXX")
RUNTIME=$(mktemp -d /tmp/mrdv.XXXX)   # short: unix socket paths max 107 bytes
chmod 700 "$RUNTIME"
export XDG_RUNTIME_DIR=$RUNTIME
export XDG_CONFIG_HOME=$RUN/xdg-config XDG_DATA_HOME=$RUN/xdg-data XDG_CACHE_HOME=$RUN/xdg-cache XDG_STATE_HOME=$RUN/xdg-state
export TMPDIR=$RUN/tmp
export EXTENSIONS_GALLERY='{}'
export KUBECONFIG=$CLUSTER_DIR/laptop.kubeconfig
export MIRRORD_DAEMON_WARM_TTL=${MIRRORD_DAEMON_WARM_TTL:-10s}
export E2E_OUT=$RUN/out
mkdir -p "$TMPDIR" "$RUN/udd/User" "$RUN/exts" "$E2E_OUT" "$SHOTS" "$XDG_STATE_HOME"
rm -f "$SHOTS"/*.png "$SHOTS"/*.log "$SHOTS"/results.json
cp -a "$HERE/workspace" "$RUN/ws"
export E2E_WS=$RUN/ws

# The binary is found the way a user's is when mirrord.binaryPath is empty:
# mirrord.autoUpdate pins this build's version, whose daemon-managed
# download (<XDG_DATA_HOME>/mirrord/bin/<version>/mirrord) is this build.
# Scenario 9 then sets autoUpdate to true: the daemon finds the next patch
# version in a local release feed (served in the netns), and the extension
# installs it.
VERSION=$("$BIN" --version | awk '{print $2}')
NEXT=$(awk -F. -v OFS=. '{$3=$3+1; print}' <<<"${VERSION%%-*}")
mkdir -p "$XDG_DATA_HOME/mirrord/bin/$VERSION" "$RUN/feed"
ln -s "$BIN" "$XDG_DATA_HOME/mirrord/bin/$VERSION/mirrord"
ln -s "bin/$VERSION/mirrord" "$XDG_DATA_HOME/mirrord/current"   # the updater's layout (daemon/internal/update)
# The "newer release" is this build relinked with the next version (a few
# seconds: only the link step runs again).
t=$(now)
(cd "${MIRRORD_SRC:-$REPO}" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath \
  -ldflags "-s -w -X github.com/mirrord-go/mirrord/internal/buildinfo.Version=$NEXT" -o "$RUN/feed/mirrord-$NEXT" ./cli/cmd/mirrord) \
  || fail "building the release $NEXT for the update feed failed"
echo "TIMING release $NEXT for the feed: $(since $t)s"
case "$(uname -m)" in x86_64) ARCH=amd64 ;; aarch64) ARCH=arm64 ;; *) ARCH=$(uname -m) ;; esac
ln "$BIN" "$RUN/feed/mirrord-$VERSION" 2>/dev/null || cp "$BIN" "$RUN/feed/mirrord-$VERSION"
asset() {
  local f=$RUN/feed/mirrord-$1
  printf '{"version":"%s","assets":[{"os":"linux","arch":"%s","url":"mirrord-%s","sha256":"%s","size":%s}]}' \
    "$1" "$ARCH" "$1" "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -L -c %s "$f")"
}
echo "{\"releases\":[$(asset "$VERSION"),$(asset "$NEXT")]}" > "$RUN/feed/feed.json"
FEED_PORT=${FEED_PORT:-18081}
export MIRRORD_UPDATE_FEED_URL=http://127.0.0.1:$FEED_PORT/feed.json E2E_VERSION=$VERSION E2E_NEXT_VERSION=$NEXT
export E2E_SETTINGS=$RUN/udd/User/settings.json E2E_LOGS=$RUN/udd/logs

node -e '
const fs = require("fs");
fs.writeFileSync(process.argv[1], JSON.stringify({
  "mirrord.autoUpdate": process.argv[2],
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "workbench.startupEditor": "none",
  "workbench.enableExperiments": false,
  "workbench.tips.enabled": false,
  "security.workspace.trust.enabled": false,
  "chat.disableAIFeatures": true,
  "git.enabled": false,
  "npm.autoDetect": "off",
  "json.schemaDownload.enable": false,
  "debug.internalConsoleOptions": "openOnSessionStart",
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "window.restoreWindows": "none"
}, null, 2));' "$RUN/udd/User/settings.json" "$VERSION"
printf 'bind-addr: 127.0.0.1:%s\nauth: none\ncert: false\n' "$PORT" > "$RUN/config.yaml"
COMMON=(--config "$RUN/config.yaml" --user-data-dir "$RUN/udd" --extensions-dir "$RUN/exts")

t=$(now)
"$CS" "${COMMON[@]}" --install-extension "$VSIX" > "$RUN/install.log" 2>&1 || { cat "$RUN/install.log"; fail "installing $VSIX failed"; }
echo "TIMING install-extension: $(since $t)s"

setsid ip netns exec "$NETNS" python3 -m http.server --bind 127.0.0.1 --directory "$RUN/feed" "$FEED_PORT" > "$RUN/feed.log" 2>&1 &
FEEDPID=$!

t=$(now)
# setsid: its own process group, so cleanup stops code-server and all its children.
setsid ip netns exec "$NETNS" "$CS" "${COMMON[@]}" --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override --ignore-last-opened > "$RUN/code-server.log" 2>&1 &
CSPID=$!
until ip netns exec "$NETNS" curl -fs -o /dev/null "http://127.0.0.1:$PORT/healthz"; do
  kill -0 "$CSPID" 2>/dev/null || { cat "$RUN/code-server.log"; fail "code-server exited"; }
  sleep 0.2
done
echo "TIMING code-server healthz: $(since $t)s"

t=$(now)
set +e
ip netns exec "$NETNS" node "$HERE/test.mjs" "http://127.0.0.1:$PORT/?folder=$RUN/ws"
RC=$?
set -e
echo "TIMING scenarios: $(since $t)s"
exit $RC
