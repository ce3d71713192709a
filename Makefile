# hotswap: a fresh Debian machine needs only `make run` and `make test`.
# The logic lives in scripts/; this file only wires the targets together.

SHELL := bash
GO ?= go

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS ?= -X main.version=$(VERSION)

# Overridable, e.g. make test GOTESTFLAGS='-count=1 -run TestFoo' GOTESTPKGS=./proxy/...
# GOTESTTAGS: build tags for go test (soak tests: GOTESTTAGS=integration,soak; none: GOTESTTAGS=).
GOTESTFLAGS ?= -race -count=1 -timeout 20m
GOTESTTAGS ?= integration
GOTESTPKGS ?= ./...
FUZZTIME ?= 30s

.DEFAULT_GOAL := build
.PHONY: build deps run test lint fuzz bench bench-translate bench-backfill bench-stages stack-start stack-stop clean distclean help

help:
	@echo 'make build      build bin/hotswap'
	@echo 'make run        install deps, build, run hotswap with its own redis-server and dynalite'
	@echo 'make test       install deps, build, lint, go test (with dynalite + moto) — what CI runs'
	@echo 'make lint       go vet, staticcheck, gofmt check'
	@echo 'make fuzz       run every fuzz target for FUZZTIME ($(FUZZTIME)) each'
	@echo 'make bench      test/bench/passthrough.sh'
	@echo 'make bench-translate  test/bench/translate.sh (DynamoDB families: hotswap vs direct SDK calls, on dynalite)'
	@echo 'make bench-stages  test/bench/stages.sh (family keys at each migration stage vs pass-through, on dynalite)'
	@echo 'make bench-backfill  test/bench/backfill.sh (hotswap backfill + verify of 1M hashes vs direct PutItems, on dynalite; N=... to change)'
	@echo 'make deps       install missing tools (scripts/deps.sh)'
	@echo 'make clean      remove build and test artefacts; distclean also the installed tools'

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/hotswap ./cmd/hotswap

deps:
	scripts/deps.sh

# make run needs only redis-server and dynalite (not moto, staticcheck or the client libraries).
run:
	scripts/deps.sh apt dynalite
	@$(MAKE) --no-print-directory build
	scripts/run.sh

test: deps
	GOTESTFLAGS='$(GOTESTFLAGS)' GOTESTTAGS='$(GOTESTTAGS)' GOTESTPKGS='$(GOTESTPKGS)' scripts/test.sh

lint:
	scripts/deps.sh staticcheck
	scripts/lint.sh

fuzz:
	FUZZTIME='$(FUZZTIME)' scripts/fuzz.sh

bench:
	scripts/deps.sh apt
	@$(MAKE) --no-print-directory build
	bash test/bench/passthrough.sh

# Not part of `bench`: the two together take over 20 minutes on the reference machine.
bench-translate:
	scripts/deps.sh apt dynalite
	bash test/bench/translate.sh

bench-stages:
	scripts/deps.sh apt dynalite
	bash test/bench/stages.sh

# Not part of `bench`: 1,000,000 keys (N=...) take a long while on dynalite; run it on a quiet machine.
bench-backfill:
	scripts/deps.sh apt dynalite
	bash test/bench/backfill.sh

# For working by hand: eval "$$(make -s stack-start)" ... make stack-stop
stack-start:
	@scripts/deps.sh dynalite moto >&2
	@scripts/stack.sh start

stack-stop:
	scripts/stack.sh stop

clean:
	rm -rf bin/ coverage.out coverage.html *.test *.prof cpu.out mem.out

distclean: clean
	rm -rf tools/bin/ tools/dynalite/node_modules/ tools/moto/.venv/
