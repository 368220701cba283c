# mirrord in Go. `make demo` runs the tour against the local cluster; `make test` runs every test.
# Cluster targets (cluster, cluster-down, cluster-status, e2e, deps) live in e2e/e2e.mk.

SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
VERSION ?= $(shell cat VERSION)
LDFLAGS := -s -w -X github.com/mirrord-go/mirrord/internal/buildinfo.Version=$(VERSION)
export CGO_ENABLED ?= 0
export GOFLAGS ?= -buildvcs=false

.PHONY: all build test unit vscode vscode-unit lint schema gen check-generated fuzz bench clean demo bootstrap
all: build

# The launch bootstrap (layer/bootstrap): a libc-free LD_PRELOAD object that
# bin/mirrord embeds. It is built, not committed (see layer/bootstrap's doc), so
# every target that compiles Go code depends on it; `go build ./...` without it
# still compiles, but that binary cannot start `mirrord runner` sessions.
BOOTSTRAP_CC ?= gcc
BOOTSTRAP := layer/bootstrap/dist/libmirrord_bootstrap.so
BOOTSTRAP_CFLAGS := -O2 -fPIC -shared -nostdlib -ffreestanding -fno-stack-protector -fno-builtin \
  -fno-tree-loop-distribute-patterns -Wall -Wextra -Werror -Wl,--build-id=none -Wl,-z,defs -s
bootstrap: $(BOOTSTRAP)
$(BOOTSTRAP): layer/bootstrap/c/bootstrap.c
	@command -v $(BOOTSTRAP_CC) >/dev/null || { echo "$(BOOTSTRAP_CC) is needed to build the launch bootstrap ($@): run 'make deps' or install gcc" >&2; exit 1; }
	$(BOOTSTRAP_CC) $(BOOTSTRAP_CFLAGS) -o $@.tmp $< && mv $@.tmp $@

build: bootstrap ## build bin/mirrord
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/mirrord ./cli/cmd/mirrord

## test is the README's test command: gofmt, vet, generated-file checks, the unit
## tests, then every e2e suite against the local cluster (started if needed),
## the VS Code extension's in real VS Code last.
test: deps unit vscode-unit
	$(MAKE) e2e
	$(MAKE) vscode-e2e
	$(MAKE) jetbrains

unit: bootstrap check-generated lint
	$(GO) test ./...

lint: bootstrap
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# The VS Code extension (extensions/vscode, an npm workspace of the root
# package.json). Its unit tests type-check it against the generated daemon
# API types and run its launch logic with Node's test runner.
VSCODE := extensions/vscode
vscode-unit: ## the VS Code extension's unit tests (no VS Code needed)
	@command -v npm >/dev/null || { echo "npm is needed for the VS Code extension: run 'make deps'" >&2; exit 1; }
	npm ci --no-audit --no-fund
	npm test -w $(VSCODE)

vscode: ## package the VS Code extension: bin/mirrord-go-<version>.vsix
	bash $(VSCODE)/package.sh

schema: ## regenerate schema/mirrord-schema.json from the Go config types
	$(GO) run ./schema/internal/gen -o schema/mirrord-schema.json

gen: schema ## regenerate every generated file: the JSON Schema and the daemon API's TypeScript and Kotlin types
	$(GO) run ./daemon/internal/apigen/cmd

check-generated: ## fail when a generated file is stale
	@tmp=$$(mktemp) && $(GO) run ./schema/internal/gen -o $$tmp && \
	  if ! cmp -s $$tmp schema/mirrord-schema.json; then rm -f $$tmp; \
	    echo "schema/mirrord-schema.json is stale: run 'make schema' and commit it" >&2; exit 1; fi; rm -f $$tmp
	@$(GO) run ./daemon/internal/apigen/cmd -check || { echo "the daemon API's client types are stale: run 'make gen' and commit them" >&2; exit 1; }

# Go 1.26's fuzz coordinator can end a clean -fuzztime run with a bare
# "context deadline exceeded" (golang/go#75804, fixed in Go 1.27). A real
# finding always writes a reproducer under testdata/fuzz, so that is what fails.
fuzz: ## fuzz the config loader (JSON, TOML and YAML inputs) for FUZZTIME (default 60s)
	@before=$$(ls schema/testdata/fuzz/FuzzLoad 2>/dev/null | wc -l); \
	out=$$($(GO) test ./schema -run '^$$$$' -fuzz FuzzLoad -fuzztime $${FUZZTIME:-60s} 2>&1); rc=$$?; echo "$$out" | tail -5; \
	after=$$(ls schema/testdata/fuzz/FuzzLoad 2>/dev/null | wc -l); \
	if [ $$rc -ne 0 ] && { [ $$after -gt $$before ] || ! echo "$$out" | grep -q 'context deadline exceeded'; }; then \
	  echo "fuzz: FAILED (reproducers in schema/testdata/fuzz/FuzzLoad)" >&2; exit 1; fi; \
	echo "fuzz: no failing input found"

bench:
	$(GO) test ./schema -run '^$$' -bench . -benchmem

clean:
	rm -rf $(BIN)

-include e2e/e2e.mk
-include e2e/vscode/vscode.mk
-include extensions/jetbrains/jetbrains.mk

demo: build cluster ## bring up the local cluster if needed, then a guided tour of what works now
	@$(GO) build -o $(BIN)/pod-tour ./demo/pod-tour
	@demo/tour.sh
