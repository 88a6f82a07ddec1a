# sluice: the two entry points are `make run` and `make test` (see README.md).
# Everything installs what it needs first (Debian packages via scripts/install-deps.sh).

BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_TSAN ?= build-tsan
BUILD_FUZZ ?= build-fuzz
MESON_ARGS ?=
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 20

.PHONY: all deps build run test test-unit test-asan test-tsan test-fuzz bench bench-report clean

all: build

deps:
	./scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release -Dwerror=true $(MESON_ARGS)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/sluice run

# Every suite: unit + integration on the release build, the whole suite again under
# ASan+UBSan, the log's concurrency tests under TSan, and a short libFuzzer run per target.
test: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 2
	$(MAKE) test-asan test-tsan test-fuzz
	@python3 scripts/test-summary.py $(BUILD)/meson-logs/testlog.json \
	    $(BUILD_ASAN)/meson-logs/testlog.json $(BUILD_TSAN)/meson-logs/testlog.json \
	    fuzz:$$(find $(BUILD_FUZZ)/fuzz -maxdepth 1 -type f -name 'fuzz-*' -perm -u+x | wc -l)

test-asan: deps
	[ -f $(BUILD_ASAN)/build.ninja ] || meson setup $(BUILD_ASAN) --buildtype=plain -Doptimization=1 \
	    -Db_sanitize=address,undefined -Db_lundef=false -Dbench=false $(MESON_ARGS)
	ninja -C $(BUILD_ASAN) -j $(JOBS)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	    meson test -C $(BUILD_ASAN) --print-errorlogs --num-processes 2 --suite unit \
	    --timeout-multiplier 3

test-tsan: deps
	[ -f $(BUILD_TSAN)/build.ninja ] || meson setup $(BUILD_TSAN) --buildtype=plain -Doptimization=1 \
	    -Db_sanitize=thread -Db_lundef=false -Dbench=false -Ddpdk=disabled $(MESON_ARGS)
	ninja -C $(BUILD_TSAN) -j $(JOBS) tests/log/log_concurrency_test
	TSAN_OPTIONS=halt_on_error=1 meson test -C $(BUILD_TSAN) --no-rebuild --print-errorlogs \
	    --suite tsan --timeout-multiplier 5

test-fuzz: deps
	[ -f $(BUILD_FUZZ)/build.ninja ] || CC=clang-14 CXX=clang++-14 meson setup $(BUILD_FUZZ) \
	    --buildtype=debugoptimized -Dfuzz=true -Dtests=false -Dbench=false -Ddpdk=disabled \
	    -Db_lundef=false $(MESON_ARGS)
	ninja -C $(BUILD_FUZZ) -j $(JOBS) $$(ninja -C $(BUILD_FUZZ) -t targets all | \
	    sed -n 's|^\(fuzz/fuzz-[A-Za-z0-9_-]*\): .*|\1|p' | sort -u)
	./scripts/run-fuzzers.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

bench: build
	./scripts/run-benches.sh $(BUILD)

# Every benchmark, plus stepped end-to-end load (sluice vs rsyslog), written up in perf/report/
# (report.md, PNG plots, results.json, logs/; git-ignored). Needs python3-matplotlib (deps).
bench-report: build
	/usr/bin/python3 scripts/bench-report.py --build $(BUILD) --out perf/report

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_TSAN) $(BUILD_FUZZ)
