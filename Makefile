# extauthz — run `make help` for the targets.
SHELL := /bin/bash
GO ?= go
# The Go release everything is built with (scripts/goenv.sh; README "Go version").
export GOTOOLCHAIN := $(shell sed -n 's/^export GOTOOLCHAIN=//p' scripts/goenv.sh)
BIN := bin/extauthz
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 20s

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build bin/extauthz
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/extauthz

.PHONY: run
run: build ## Run the service on the in-memory store (no database needed)
	$(BIN) serve --config deploy/examples/quickstart.yaml

.PHONY: test
test: e2e-tools ## Vet and run every test (installs PostgreSQL/nginx/Chromium when missing; starts its own servers)
	scripts/deps.sh all
	$(GO) vet ./...
	$(GO) test -count=1 ./...

.PHONY: test-race
test-race: e2e-tools ## Run every test with the race detector
	$(GO) test -race -count=1 ./...

.PHONY: lint
lint: ## gofmt, go vet, staticcheck, govulncheck (offline DB built from golang.org/x/vulndb when vuln.go.dev is unreachable)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...
	scripts/tool.sh staticcheck ./...
	scripts/vulncheck.sh ./...

.PHONY: e2e-tools
e2e-tools: ## Build the pinned oauth2-proxy, Traefik and Caddy into the tool cache (minutes the first time, then instant)
	@for t in oauth2-proxy traefik caddy; do s=$$SECONDS; scripts/tool.sh --path $$t >/dev/null; echo "tool $$t ready ($$((SECONDS - s))s)"; done

.PHONY: e2e
e2e: e2e-tools ## End-to-end through nginx, Traefik and Caddy: oauth2-proxy, mock IdP, PostgreSQL, headless Chromium (installs them)
	scripts/deps.sh
	$(GO) test -count=1 -timeout 15m ./test/e2e/...

.PHONY: e2e-contended
e2e-contended: e2e-tools ## The end-to-end suite with three busy loops competing for the CPU
	scripts/deps.sh
	E2E_BUSY_LOOPS=3 $(GO) test -count=1 -timeout 20m ./test/e2e/...

.PHONY: chaos
chaos: ## Fault injection under load (real binary, real PostgreSQL); prints the figures table
	CHAOS_FULL=1 $(GO) test -count=1 -v -timeout 15m -run TestChaos ./test/chaos

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 20s)
	scripts/fuzz.sh $(FUZZTIME)

.PHONY: generate
generate: ## Regenerate the checked-in Go code of proto/ (protoc from Debian, pinned plugins)
	scripts/generate.sh

.PHONY: docs
docs: ## Regenerate docs/configuration.md from pkg/config (make test fails when it is stale)
	$(GO) test -count=1 -run '^TestReferenceIsCurrent$$' ./pkg/config -update

.PHONY: bench
bench: ## Load benchmark vs a do-nothing ext_authz server (throw-away PostgreSQL); --smoke via BENCH_ARGS
	scripts/bench.sh $(BENCH_ARGS)

.PHONY: deploy-check
deploy-check: ## Lint and render the Helm chart (3 value sets), kubeconform offline, deploy/k8s reproducible, rendered-object assertions; Envoy configs, Dockerfile build line
	scripts/deploy-check.sh

.PHONY: ops-check
ops-check: ## Black-box operator tests (test/ops): scrape checked by a pinned promtool, alert unit tests, dashboard queries against the scrape
	scripts/tool.sh promtool test rules deploy/monitoring/alerts_test.yaml
	EXTAUTHZ_PROMTOOL=$$(scripts/tool.sh --path promtool) $(GO) test -count=1 ./test/ops/

.PHONY: clean
clean: ## Remove build output
	rm -rf bin
