# The JetBrains plugin (extensions/jetbrains), built without Gradle: see
# extensions/jetbrains/README.md. Included by the root Makefile (paths are
# relative to it); `make test` runs `make jetbrains`.
#
#   make jetbrains       install the toolchain if missing, compile core, run its unit tests,
#                        then the tests against the real daemon and the local cluster
#   make jetbrains-unit  the same without the cluster tests (no bin/mirrord, no cluster)
JB_DIR ?= /var/tmp/mirrord-jetbrains
export JB_DIR

.PHONY: jetbrains jetbrains-unit

jetbrains: build cluster ## the JetBrains plugin's core: unit tests, then against the real daemon and cluster
	MIRRORD_BIN=$(CURDIR)/bin/mirrord E2E=1 bash $(CURDIR)/extensions/jetbrains/tools/build.sh

jetbrains-unit: ## the JetBrains plugin's core unit tests only
	E2E=0 bash $(CURDIR)/extensions/jetbrains/tools/build.sh
