# hubgate: thin wrapper around CMake + CTest.  See README.md.
#   make run     install missing packages, build, start the gateway
#   make test    install test packages, build, run every test (release, ASan+UBSan, fuzzers)
#   make bench   build and run the benchmarks
JOBS    ?= $(shell nproc 2>/dev/null || echo 2)
DATA    ?= $(CURDIR)/data
FUZZ_SECONDS ?= 5
BENCH_MIB ?= 1024

.PHONY: all deps build run test test-release test-asan test-fuzz bench format clean

all: build

deps:
	@scripts/deps.sh build

build: deps
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS)

run: build
	./build/hubgate serve --data $(DATA)

test:
	@scripts/deps.sh test
	@$(MAKE) --no-print-directory test-release test-asan test-fuzz

test-release:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS)
	cd build && ctest --output-on-failure -j $(JOBS)

test-asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHG_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) -L 'unit|protocol|store|gateway|security|scan' 

test-fuzz:
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DHG_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzzers
	@scripts/run-fuzzers.sh build-fuzz $(FUZZ_SECONDS)

bench:
	@scripts/deps.sh bench
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build build -j $(JOBS)
	./build/bench_xet
	bench/bench_serve.sh $(BENCH_MIB)
	python3 bench/bench_gateway.py 256
	bench/bench_scan.sh 8 1024

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan build-fuzz
