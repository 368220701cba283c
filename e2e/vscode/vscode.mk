# The VS Code extension's end-to-end suite in real VS Code (code-server +
# chromium), against the real daemon and the local cluster. Included by the
# root Makefile (paths are relative to it, i.e. to $(CURDIR)); see
# e2e/vscode/README.md. `make test` runs it after the Go e2e suites.
#
#   make vscode-e2e        build, cluster, install the toolchain (once), package the .vsix, run the scenarios
#   make vscode-e2e-setup  only the toolchain and the .vsix
VSCODE_E2E_DIR ?= /var/tmp/mirrord-vscode-e2e
export VSCODE_E2E_DIR

.PHONY: vscode-e2e vscode-e2e-setup

vscode-e2e-setup:
	bash $(CURDIR)/e2e/vscode/setup.sh

vscode-e2e: build cluster vscode-e2e-setup ## the VS Code extension in real VS Code against the cluster
	MIRRORD_BIN=$(CURDIR)/bin/mirrord bash $(CURDIR)/e2e/vscode/run.sh
