# Cairn: `make demo` runs the main job on sample-data/, `make test` runs every test.
# Both install what is missing first: apt packages, and for the tests the Python S3 tools below.

SHELL := /bin/bash
APT_PACKAGES := libsqlite3-dev libpng-dev libjpeg-dev libturbojpeg0-dev libopenblas-dev \
                libchafa-dev libglib2.0-dev pkg-config tmux sqlite3
# Python tools the tests use as real consumers: the S3 tests' local server (moto), reference signer
# (botocore), hostile writer (boto3) and peer (awscli); pycocotools reads the COCO export, webdataset
# the shards; numpy and Pillow run the example training program (Docs/examples) through `cairn run`;
# pyyaml reads a refined sweep spec; onnxruntime runs `cairn export-model` files and tritonclient
# talks to `cairn serve` (Tests/Python/check_serving.py).
PIP_PACKAGES := 'moto[server]' botocore boto3 awscli pycocotools webdataset numpy pillow pyyaml onnxruntime 'tritonclient[http]'
PIP_MODULES := moto.server botocore boto3 pycocotools webdataset numpy PIL yaml onnxruntime tritonclient.http
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_REPO ?= demo-repo
RELEASE_BIN := .build/release/cairn
FUZZ_SECONDS ?= 30
# `make test` fuzzes a fixed number of inputs per target from a pinned seed instead of a time budget,
# so a commit gets the same fuzz verdict on every machine, fast or slow; `make fuzz` runs by time.
FUZZ_RUNS ?=
# 0 lets libFuzzer pick a random seed; `make test` pins one so CI explores the same inputs each run.
FUZZ_SEED ?= 0
# Where the sanitized fuzz build goes. Its own directory keeps both builds incremental locally;
# .ci/run points it at .build, where a clean clone's C dependencies (BoringSSL, SQLite shims) are
# already compiled (the sanitizer flags only touch Swift), saving minutes.
FUZZ_SCRATCH ?= .build-fuzz

.PHONY: deps test-deps build release test demo bench stress fuzz clean

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

## test-deps: what the tests use as real consumers: Debian's chromium (renders `cairn report` pages
## headless), Debian's PostgreSQL (the tests start a throwaway cluster of their own, or use the server
## CAIRN_TEST_POSTGRES names) and the Python tools below (installed with apt and pip when missing)
TEST_APT_PACKAGES := chromium postgresql
test-deps:
	@missing=""; for p in $(TEST_APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@python3 -c "import $(shell echo $(PIP_MODULES) | tr ' ' ',')" 2>/dev/null && command -v moto_server >/dev/null && command -v aws >/dev/null \
	  || { echo "installing: $(PIP_PACKAGES)"; python3 -m pip install -q $(PIP_PACKAGES); }

build: deps
	swift build

## release: the shipped programs only (test support imports internals, which a release build does not expose)
release: deps
	swift build -c release --product cairn
	swift build -c release --product cairn-bench

## test: build everything (warnings are errors), run all test targets, then fuzz each target briefly
test: deps test-deps
	swift build --build-tests
	swift test --skip-build
	@$(MAKE) --no-print-directory fuzz FUZZ_RUNS=$(TEST_FUZZ_RUNS) FUZZ_SEED=1

## How many inputs each fuzz target gets in `make test` (10-20 s each on this 2-core machine).
TEST_FUZZ_RUNS ?= 200000

## fuzz: every fuzz target for FUZZ_SECONDS each (default 30), or for FUZZ_RUNS inputs each when set,
## starting from the seed corpus and every saved crash; sanitized build in FUZZ_SCRATCH (.build-fuzz).
## Tests/Fuzz/options/TARGET holds extra libFuzzer flags for a target (config: -detect_leaks=0, because
## TOMLKit's C++ bridge never frees the key arrays it returns; AddressSanitizer still checks every access).
## Targets fuzzed at once (one per core); each keeps its own seed and count, so the verdict is the same.
FUZZ_JOBS ?= $(shell nproc)
FUZZ_TARGETS := png jpeg labels-csv jsonl tree pack-index pack checkpoint bundle tags remote-meta config infer-request sweep-spec npy coco yolo labelstudio voc cvat
fuzz: deps
	swift build --scratch-path $(FUZZ_SCRATCH) --product cairn-fuzz -Xswiftc -sanitize=fuzzer,address -Xlinker --export-dynamic
	@rm -f $(FUZZ_SCRATCH)/fuzz-*.result; \
	printf '%s\n' $(FUZZ_TARGETS) | xargs -P $(FUZZ_JOBS) -I{} sh Tests/Fuzz/run-one.sh {} $(FUZZ_SCRATCH) "$(FUZZ_RUNS)" "$(FUZZ_SECONDS)" "$(FUZZ_SEED)"; \
	passed=0; failed=0; for t in $(FUZZ_TARGETS); do \
	  if [ "$$(cat $(FUZZ_SCRATCH)/fuzz-$$t.result 2>/dev/null)" = passed ]; then \
	    passed=$$((passed + 1)); echo "$$t: $$(grep -E '^stat::number_of_executed_units' $(FUZZ_SCRATCH)/fuzz-$$t.log)"; \
	  else \
	    failed=$$((failed + 1)); tail -n 40 $(FUZZ_SCRATCH)/fuzz-$$t.log; \
	    echo "fuzz target $$t crashed: the input is in $(FUZZ_SCRATCH)/crash-$$t-*; add it to Tests/Fuzz/regressions/$$t/"; \
	  fi; \
	done; \
	echo "fuzz: $$passed passed, $$failed failed"; [ $$failed -eq 0 ]

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
	$(RELEASE_BIN) -C $(DEMO_REPO) train --data v1 --model mlp --name demo-mlp
	$(RELEASE_BIN) -C $(DEMO_REPO) runs
	$(RELEASE_BIN) -C $(DEMO_REPO) suspects --data v1 --limit 10
	$(RELEASE_BIN) -C $(DEMO_REPO) check --data v1 --limit 5
	@echo
	@echo "Done: ./$(DEMO_REPO) holds the digits, snapshot v1, its checkout in $(DEMO_REPO)/checkout-v1,"
	@echo "and run demo-mlp trained on v1. Its plots are in $(DEMO_REPO)/.cairn/runs/<run id>/ (loss.png, accuracy.png, confusion.png)."
	@echo "Try: $(RELEASE_BIN) -C $(DEMO_REPO) runs show demo-mlp"
	@echo "     $(RELEASE_BIN) -C $(DEMO_REPO) train --data v1 --model cnn"
	@echo "     $(RELEASE_BIN) -C $(DEMO_REPO) predict demo-mlp sample-data/digits/3/0003.png"
	@echo "     $(RELEASE_BIN) -C $(DEMO_REPO) label --annotator grace --queue suspects   (after: annotators add grace --role reviewer)"

## bench: the benchmark program in a release build (commands and figures in Docs/BENCHMARKS.md)
bench: release
	.build/release/cairn-bench --help

clean:
	rm -rf .build $(DEMO_REPO)
