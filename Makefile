# Thin wrappers around the go tool. CI (.ci/run) calls these targets and
# nothing else. Every variable can be overridden: make test TESTFLAGS=-v.

GO         ?= go
GOFMT      ?= $(shell $(GO) env GOROOT)/bin/gofmt
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN        ?= bin/pgstrict
TESTFLAGS  ?=
BENCHFLAGS ?=
FUZZTIME   ?= 30s
# The command make demo runs against the throwaway server (DATABASE_URL is set
# for it): a tour of pgstrict exec, .ci/demo.sh.
DEMO_CMD   ?= env GO='$(GO)' .ci/demo.sh

# Go files to format: everything but VCS metadata and testdata (which may hold
# deliberately odd Go sources).
GOFILES = $(shell find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' | sort)

.PHONY: bench build ci demo fmt fuzz fuzz-oss fuzz-smoke golden-update lint test test-short

## bench: run bench/ side by side (-count=6), print the ratios pgstrict/baseline (BENCHFLAGS: benchtable flags)
bench:
	$(GO) run ./bench/cmd/benchtable -go '$(GO)' $(BENCHFLAGS)

## build: build bin/pgstrict with the version from git describe (or VERSION=)
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/pgstrict

## ci: what CI runs: lint, then test
ci:
	$(MAKE) lint
	$(MAKE) test

## demo: start a throwaway PostgreSQL, run DEMO_CMD against it, stop it
demo:
	$(GO) run ./internal/pgtest/cmd/pgsandbox -- $(DEMO_CMD)

## fmt: format every Go file in place
fmt:
	$(GOFMT) -w $(GOFILES)

## fuzz: run every Fuzz* target of every package in turn for FUZZTIME each
fuzz:
	GO='$(GO)' FUZZTIME='$(FUZZTIME)' .ci/fuzz.sh

## fuzz-smoke: the same, 3s per target
fuzz-smoke:
	GO='$(GO)' FUZZTIME=3s .ci/fuzz.sh

## fuzz-oss: build every target as ClusterFuzzLite does, without Docker, and run each libFuzzer binary briefly (needs clang with libFuzzer; FUZZ_OSS_TIME, FUZZ_OSS_ONLY)
fuzz-oss:
	GO='$(GO)' .clusterfuzzlite/check.sh

## golden-update: rewrite the golden files of every package whose tests use internal/golden
golden-update:
	@golden="$$($(GO) list -m)/internal/golden"; \
	pkgs="$$($(GO) list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... \
		| awk -v g="$$golden" '$$1 != g { for (i = 2; i <= NF; i++) if ($$i == g) { print $$1; break } }')"; \
	if [ -z "$$pkgs" ]; then echo "golden-update: no package uses internal/golden"; exit 0; fi; \
	echo $(GO) test -count=1 $$pkgs -update; \
	$(GO) test -count=1 $$pkgs -update

## lint: fail on unformatted files, then go vet
lint:
	@out="$$($(GOFMT) -l $(GOFILES))"; \
	if [ -n "$$out" ]; then echo "gofmt: these files need formatting (run make fmt):"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## test: every test, with the race detector, never cached
test:
	$(GO) test -race -count=1 $(TESTFLAGS) ./...
	@# The portable (non-assembly) text check, which non-amd64 builds use.
	$(GO) test -tags purego -count=1 $(TESTFLAGS) -run 'ValidText|NextRow' ./wire/

## test-short: the same with -short (skips slow tests)
test-short:
	$(GO) test -race -count=1 -short $(TESTFLAGS) ./...
