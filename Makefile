# Hypernest: the one entry point for building, generating and testing.
# `make help` lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

export PATH := /usr/local/go/bin:$(PATH)
# The machine's Go is the one we build and test with; never download another.
export GOTOOLCHAIN ?= local
# vendor/ exists only for Bazel (make gazelle); the go command always uses go.sum.
export GOFLAGS ?= -mod=mod -buildvcs=false

HYPERNEST_CACHE ?= $(HOME)/.cache/hypernest
export HYPERNEST_CACHE

GO ?= go
CONTROLLER_GEN := $(GO) tool controller-gen
GINKGO := $(GO) tool ginkgo
# Colour only on a terminal, so CI logs stay readable.
GINKGO_FLAGS ?= $(if $(shell test -t 1 && echo tty),,--no-color)
# Packages with plain unit tests: everything but the Ginkgo suites under tests/.
UNIT_PKGS = $$($(GO) list ./... | grep -v '/tests/')

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-20s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: run
run: ## Bring up the local cluster, install Hypernest through the operator and boot the example VM.
	@hack/run.sh

.PHONY: fresh-check
fresh-check: ## The README's first use from nothing: make run twice and make test twice, from a clean clone and an empty cache, timed.
	@hack/fresh-check.sh

##@ Development

.PHONY: generate
generate: ## Regenerate deepcopy code, the CRDs in manifests/crds and the Bazel BUILD files.
	@echo "generating deepcopy functions and CRDs (controller-gen)"
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/core/... paths=./api/pool/... paths=./api/instancetype/... paths=./api/migrations/... output:crd:artifacts:config=manifests/crds
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true paths=./api/infrastructure/... output:crd:artifacts:config=manifests/capi/crds
	@echo "generating protobuf code (protoc)"
	@hack/generate-proto.sh
	@$(MAKE) -s manifests
	@$(MAKE) -s gazelle

.PHONY: manifests
manifests: ## Write the release manifests (manifests/release: the operator, the KubeVirt object; manifests/capi: the Cluster API provider).
	@echo "writing manifests/release and manifests/capi (hack/manifests)"
	@$(GO) run ./hack/manifests --out manifests/release --capi-out manifests/capi

.PHONY: gazelle
gazelle: ## Regenerate the Bazel BUILD files of the Go packages (gazelle, from go.mod).
	@hack/bazel/gazelle.sh

.PHONY: rpm-deps
rpm-deps: ## Re-resolve the Debian package trees images are built from (rewrites rpm/*.lock).
	@hack/rpm-deps.sh

.PHONY: generate-verify
generate-verify: ## Fail when generated files are stale (run 'make generate' and commit to fix).
	@hack/generate-verify.sh

.PHONY: build
build: ## Build every Go package.
	$(GO) build ./...

.PHONY: virtctl
virtctl: ## Build virtctl into _out/bin/virtctl (hack/virtctl.sh runs it against the local cluster).
	$(GO) build -ldflags "$$(hack/version.sh ldflags)" -o _out/bin/virtctl ./components/virtctl

.PHONY: vet
vet: ## Run go vet over the project's packages (and the local cluster's cert-manager module).
	$(GO) vet ./...
	cd hack/cluster/cert-manager && $(GO) vet ./...

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: shellcheck
shellcheck: ## Lint the shell scripts.
	shellcheck -x -S warning $$(git ls-files 'hack/*.sh' 'hack/**/*.sh') .ci/run

.PHONY: fmt-verify
fmt-verify: ## Fail when a Go file is not gofmt-formatted.
	@files=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$files" ]; then echo "not gofmt-formatted (run 'make fmt'): $$files"; exit 1; fi

.PHONY: kube-binaries
kube-binaries: ## Build Kubernetes and etcd binaries into $(HYPERNEST_CACHE) (cached by version).
	@hack/kube-binaries.sh

##@ Bazel (Debian's Bazel 4.2.3, offline; outputs cached in $(HYPERNEST_CACHE)/bazel)

BAZEL := hack/bazel.sh
# KubeVirt's example manifests, beside the checkout (tests/framework finds them the same way).
HYPERNEST_CONFORMANCE_DIR ?= $(abspath ../shared/conformance/kubevirt-examples)
# Everything of the project; vendor/ holds the Go dependencies (built only as needed).
BAZEL_TARGETS := -- //... -//vendor/...

.PHONY: bazel-build
bazel-build: ## Build every binary and image with Bazel.
	@$(BAZEL) build $(BAZEL_TARGETS)

.PHONY: bazel-test
bazel-test: ## Run the unit tests under Bazel, and check that a tampered package lock is refused.
	@$(BAZEL) test --test_env=HYPERNEST_CONFORMANCE_DIR=$(HYPERNEST_CONFORMANCE_DIR) $(BAZEL_TARGETS)
	@hack/bazel/lock-tamper-check.sh

.PHONY: bazel-build-images
bazel-build-images: ## Build every image tarball with Bazel and print its names and digest.
	@hack/bazel/build-images.sh

.PHONY: bazel-build-verify
bazel-build-verify: ## Build the images twice, from scratch, and fail unless the digests match.
	@hack/bazel/build-verify.sh

##@ Local cluster

.PHONY: cluster-up
cluster-up: ## Start the local cluster, of NODES nodes (default 1; builds and caches what it needs first).
	@hack/kube-binaries.sh >/dev/null
	@hack/runtime-binaries.sh >/dev/null
	@hack/cluster/images.sh
	@NODES="$(NODES)" hack/cluster/up.sh

.PHONY: cluster-down
cluster-down: ## Stop the local cluster and remove its pods, network state and etcd data.
	@hack/cluster/down.sh

.PHONY: cluster-sync
cluster-sync: ## Build Hypernest's images, import them into the local cluster and deploy them through virt-operator.
	@hack/cluster/sync.sh
	@hack/cluster/deploy.sh

.PHONY: cluster-deploy
cluster-deploy: ## Build the images and install Hypernest on the local cluster straight from the install package (no operator).
	@hack/cluster/sync.sh
	@source hack/cluster/common.sh && $(GO) run ./hack/deploy --kubeconfig "$$HN_KUBECONFIG" \
		--use-emulation=$${HYPERNEST_USE_EMULATION:-true}

.PHONY: kubeconfig
kubeconfig: ## Print the path of the local cluster's kubeconfig.
	@source hack/cluster/common.sh && echo "$$HN_KUBECONFIG"

##@ Cluster API (built from the Go module proxy; clusterctl runs offline)

.PHONY: capi-repo
capi-repo: ## Build Cluster API v1.14.2 (managers, clusterctl, images) and the local cert-manager, write the offline clusterctl repository, import the images into the local cluster.
	@hack/capi/build.sh >/dev/null
	@hack/capi/repo.sh

.PHONY: node-image
node-image: ## Build the nested cluster node image (Debian 12, systemd, cloud-init, containerd, kubeadm; cached), import it into the local cluster when it runs.
	@hack/node-image/build.sh

.PHONY: cert-manager
cert-manager: ## Build the local cluster's cert-manager (its own controllers from its Go module) and print its manifest's path.
	@hack/cluster/cert-manager.sh

##@ Testing

.PHONY: test
test: fmt-verify vet shellcheck generate-verify test-unit fuzz bazel-test test-integration functest ## Run every test: format, vet, generated files, unit, fuzzing, integration, functional.

.PHONY: test-unit
test-unit: ## Run unit tests.
	$(GO) test -count=1 $(UNIT_PKGS)

# Go's fuzzer takes one target per run. Minimizing a new input is off: it can outlast
# FUZZTIME and fail the run with "context deadline exceeded". FUZZTIME is a count of
# inputs, not a duration: a run that ends at a deadline still failed that way now and
# then, minimizing off (FuzzKubeVirtAdmission, 2026-12-03); 10000 inputs take 5-10 s a
# target here.
FUZZTIME ?= 10000x
FUZZ_TARGETS = FuzzVMIAdmission FuzzVMAdmission FuzzKubeVirtAdmission

.PHONY: fuzz
fuzz: ## Fuzz virt-api's admission webhooks, each target for FUZZTIME (10000 inputs; make fuzz FUZZTIME=10m for longer).
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzzing $$t for $(FUZZTIME) (components/virt-api/webhooks)"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 0s ./components/virt-api/webhooks/ || exit 1; \
	done

.PHONY: test-integration
test-integration: ## Run integration tests: a real apiserver (envtest), real libvirt + QEMU (virt-launcher; virt-handler and virt-controller on real launchers).
	@assets=$$(hack/kube-binaries.sh | tail -1) && \
	  $(BAZEL) build //hack/demo-disk:disk >/dev/null 2>&1 || { echo "building the demo disk failed: run hack/bazel.sh build //hack/demo-disk:disk"; exit 1; } && \
	  echo "KUBEBUILDER_ASSETS=$$assets HYPERNEST_DEMO_DISK=_out/bazel-bin/hack/demo-disk/demo.qcow2" && \
	  KUBEBUILDER_ASSETS=$$assets HYPERNEST_DEMO_DISK=$(CURDIR)/_out/bazel-bin/hack/demo-disk/demo.qcow2 \
	  $(GINKGO) run $(GINKGO_FLAGS) --timeout=30m -r ./tests/integration && \
	  echo "the local cluster's cert-manager (hack/cluster/cert-manager, its own Go module) against envtest" && \
	  cd hack/cluster/cert-manager && KUBEBUILDER_ASSETS=$$assets $(GO) test -count=1 ./...

.PHONY: functest
functest: ## Run the functional tests (the nested cluster's too; HYPERNEST_NESTED=0 skips it) on the cluster in KUBECONFIG, or on the local cluster (started if needed).
	@GINKGO_FLAGS="$(GINKGO_FLAGS)" hack/functest.sh

.PHONY: functest-nested
functest-nested: ## Run only the nested cluster test (clusterctl, node image VMs, kubeadm, flannel, ~30 min under TCG).
	@HYPERNEST_NESTED=1 GINKGO_FLAGS="$(GINKGO_FLAGS)" hack/functest.sh

##@ Benchmarks

.PHONY: bench
bench: ## Print performance figures (local cluster start, daemon memory, pod and VMI start, a nested cluster's start and node memory); VMI figures also as JSON in $BENCH_OUT (default _out/bench/latest.json).
	@hack/bench/cluster.sh
	@hack/bench/nested.sh
