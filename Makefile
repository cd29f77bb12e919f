# Cairn: `make demo` runs the main job on sample-data/, `make test` runs every test.
# Both install what is missing first (apt packages; nothing else is needed yet).

SHELL := /bin/bash
APT_PACKAGES := libsqlite3-dev libpng-dev libjpeg-dev libturbojpeg0-dev libopenblas-dev \
                libchafa-dev libglib2.0-dev pkg-config tmux sqlite3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_REPO ?= demo-repo
RELEASE_BIN := .build/release/cairn

.PHONY: deps build release test demo bench stress clean

## deps: install missing system packages (idempotent: does nothing when all are present)
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v swift >/dev/null || { echo "swift is not on PATH; install Swift 6.2 or newer"; exit 1; }

build: deps
	swift build

release: deps
	swift build -c release

## test: build everything (warnings are errors) and run all test targets
test: deps
	swift build --build-tests
	swift test --skip-build

## stress: the crash and concurrency harnesses at length (1,000 SIGKILLs; 8 x 1,000 concurrent labels;
## CAIRN_CRASH_SEED=N reproduces a crash run)
stress: deps
	swift build --build-tests
	CAIRN_CRASH_KILLS=$${CAIRN_CRASH_KILLS:-1000} CAIRN_CONCURRENT_LABELS=$${CAIRN_CONCURRENT_LABELS:-1000} \
	  swift test --skip-build --filter 'CrashTests|ConcurrencyTests' 

## demo: the main job on sample-data/digits in a fresh ./demo-repo
demo: release
	rm -rf $(DEMO_REPO)
	$(RELEASE_BIN) init $(DEMO_REPO)
	$(RELEASE_BIN) -C $(DEMO_REPO) import --labels-from-dirs sample-data/digits
	$(RELEASE_BIN) -C $(DEMO_REPO) status
	$(RELEASE_BIN) -C $(DEMO_REPO) snapshot -m "digits as imported"
	$(RELEASE_BIN) -C $(DEMO_REPO) tag v1
	$(RELEASE_BIN) -C $(DEMO_REPO) log
	$(RELEASE_BIN) -C $(DEMO_REPO) checkout v1 $(DEMO_REPO)/checkout-v1
	$(RELEASE_BIN) -C $(DEMO_REPO) fsck
	@echo
	@echo "Done: ./$(DEMO_REPO) holds the digits, snapshot v1 and its checkout in $(DEMO_REPO)/checkout-v1."
	@echo "Try: $(RELEASE_BIN) -C $(DEMO_REPO) show digits/3/0003.png"

## bench: the benchmark program in a release build (commands and figures in Docs/BENCHMARKS.md)
bench: release
	.build/release/cairn-bench --help

clean:
	rm -rf .build $(DEMO_REPO)
