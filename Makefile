# Thin wrapper around CMake. `make run` and `make test` do all the set-up on a
# fresh Debian 12 machine (missing packages are installed first).
BUILD      ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)
FUZZ_TIME  ?= 60
SOAK_MIN   ?= 60

.PHONY: all deps build run test test-build tsan-build fuzz-build fuzz bench soak deb format clean

all: build

deps:
	scripts/deps.sh build

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j$(JOBS)

run: build
	scripts/run.sh

# Tests run on an ASan+UBSan build with -Werror, plus a clang libFuzzer build
# for the bounded fuzz smoke, and a ThreadSanitizer daemon that the
# multi-worker and live-operations tests run again (tsan_* in ctest); the
# soak smoke also runs the release build.
test-build: tsan-build
	scripts/deps.sh test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DICESTATION_WERROR=ON \
		-DICESTATION_SANITIZE=ON -DICESTATION_TSAN_DIR=$(abspath $(TSAN_BUILD)) \
		-DICESTATION_RELEASE_BUILD=$(abspath $(BUILD))
	cmake --build $(TEST_BUILD) -j$(JOBS)

tsan-build:
	scripts/deps.sh test
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DICESTATION_WERROR=ON \
		-DICESTATION_TSAN=ON
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target icestation icestationctl

fuzz-build:
	scripts/deps.sh test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DICESTATION_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j$(JOBS)

test: build test-build fuzz-build
	cd $(TEST_BUILD) && ctest --output-on-failure -j$(JOBS) --timeout 900

# Every target for FUZZ_TIME seconds; prints executions, exec/s, edges,
# corpus size and a 10^8-execution estimate per target, and keeps the grown
# corpus, minimised, in fuzz/corpus/<target>/ (docs/reliability.md).
fuzz: fuzz-build
	scripts/fuzz.sh --each --keep-corpus $(FUZZ_BUILD) $(FUZZ_TIME)

bench: build
	scripts/deps.sh bench
	bench/run.sh $(BUILD)

# The Debian package in build-deb/, checked by lintian (no error allowed).
deb:
	scripts/deps.sh deb
	JOBS=$(JOBS) scripts/deb.sh build-deb

# Reliability soak on the release build (docs/reliability.md): SOAK_MIN
# minutes of churn, flows, abuse and ICE API load, sampled every second;
# writes soak-results/{soak.csv,soak.png,summary.md} and fails on a verdict.
soak: build
	scripts/deps.sh soak
	/usr/bin/python3 soak/soak.py --minutes $(SOAK_MIN) --bin $(BUILD)/icestation \
		--loadgen $(BUILD)/bench/loadgen --out soak-results

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD) build-deb
