# Local Kubernetes cluster for the e2e suites (see e2e/cluster/README.md).
# Included by the root Makefile. Everything runs as root on Linux; state lives
# in $(CLUSTER_DIR) and the project kubeconfig is $(CLUSTER_DIR)/kubeconfig.
#
#   make cluster                build if needed, start, deploy the sample workloads, wait until Ready
#   make cluster-down [WIPE=1]  stop everything (WIPE=1 also deletes cluster state)
#   make cluster-status         components, node and workloads
#   make cluster-check-clean    exit non-zero if anything of the cluster is left after cluster-down
#   make e2e                    make cluster, then every e2e suite (go test -tags e2e ./e2e/...)
#   make deps                   the Debian packages the cluster needs

CLUSTER_DIR ?= /var/tmp/mirrord-e2e-cluster
export CLUSTER_DIR
E2E_TIMEOUT ?= 30m
CLUSTER_CMD := $(CLUSTER_DIR)/bin/cluster
CLUSTER_DEBS := containerd runc containernetworking-plugins etcd-server iptables conntrack iproute2 busybox-static socat curl
# The layer's runtime tests and the incoming language matrix run real
# programs: a C compiler, Python, Node and a JDK (javac, java).
TEST_DEBS := gcc libc6-dev python3 nodejs nftables default-jdk-headless

.PHONY: bench-incoming bench-layer bench-startup deps cluster cluster-down cluster-status cluster-check-clean cluster-kubeconfig cluster-cmd e2e

# The e2e targets fail (never skip) when the machine cannot run the cluster.
define require_host
	@if [ "$$(uname -s)" != Linux ]; then echo "e2e cluster: needs Linux (this is $$(uname -s))" >&2; exit 1; fi
	@if [ "$$(id -u)" != 0 ]; then echo "e2e cluster: needs root (it runs containerd, kubelet and iptables); run 'sudo make $@'" >&2; exit 1; fi
	@if ! grep -qE '^cgroup2? ' /proc/mounts; then echo "e2e cluster: no cgroup filesystem is mounted under /sys/fs/cgroup; kubelet and runc need cgroups" >&2; exit 1; fi
endef

deps: ## install the Debian packages the cluster needs (quick when already installed)
	$(require_host)
	@installed=" $$(dpkg-query -W -f='$${Package}:$${db:Status-Status} ' $(CLUSTER_DEBS) $(TEST_DEBS) 2>/dev/null) "; \
	missing=$$(for p in $(CLUSTER_DEBS) $(TEST_DEBS); do case "$$installed" in *" $$p:installed "*) ;; *) echo $$p;; esac; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@# npm comes with some Node.js builds (NodeSource) and as its own package with Debian's.
	@command -v npm >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm; }

# go build is itself incremental: a no-op when nothing changed.
cluster-cmd:
	@mkdir -p $(CLUSTER_DIR)/bin
	@$(GO) build -trimpath -ldflags='-s -w' -o $(CLUSTER_CMD) ./e2e/cluster/cmd/cluster

cluster: deps cluster-cmd ## build if needed, start, deploy and wait until all Ready; prints the kubeconfig path
	@$(CLUSTER_CMD) up

cluster-down: cluster-cmd ## stop the cluster; WIPE=1 also deletes its state
	$(require_host)
	@$(CLUSTER_CMD) down $(if $(filter 1 true yes,$(WIPE)),--wipe)

cluster-status: cluster-cmd
	@$(CLUSTER_CMD) status

cluster-check-clean: cluster-cmd ## non-zero exit and a list of leftovers if cluster-down left anything
	@$(CLUSTER_CMD) check-clean

cluster-kubeconfig: cluster-cmd
	@$(CLUSTER_CMD) kubeconfig

# The suites share one prebuilt bin/mirrord: building it inside every test
# binary, in parallel on a cold cache, ate the first test's deadline.
# e2e/incoming steals the web pod's port 80, which other suites call: it
# runs alone, after them.
e2e: cluster build ## run every e2e suite against the local cluster
	MIRRORD_E2E_BIN=$(abspath $(BIN)/mirrord) $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) $$($(GO) list -tags e2e ./e2e/... | grep -v /e2e/incoming$$)
	MIRRORD_E2E_BIN=$(abspath $(BIN)/mirrord) $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) ./e2e/incoming

bench-layer: build cluster ## the layer's figures: Python start-up, 64 MiB remote read vs kubectl exec, HTTP latency vs kubectl port-forward
	@e2e/bench/layer.sh

bench-incoming: build cluster ## incoming figures: stolen HTTP req/s and p50/p99 vs kubectl port-forward; latency mirror mode adds to the pod's answers
	cd e2e/incoming && MIRRORD_E2E_BIN=$(abspath $(BIN)/mirrord) $(GO) test -tags e2e -count=1 -run '^$$' -bench 'HTTP$$' -benchtime $${BENCHTIME:-3000x} .

bench-startup: build cluster ## median time from `mirrord exec` to the child starting (Job and ephemeral agents)
	@e2e/bench/startup.sh
