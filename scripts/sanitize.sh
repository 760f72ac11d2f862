#!/usr/bin/env bash
# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer (clang, RelWithDebInfo),
# in build-asan/ (shared with fuzz/run). Any sanitizer report fails the test that caused it.
#   scripts/sanitize.sh [ctest arguments, e.g. -R Idx]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --fuzz > /dev/null
cmake -S . -B build-asan -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDCACN_FUZZ=ON -DDCACN_BUILD_BENCH=OFF > /dev/null
cmake --build build-asan -j"$(nproc)"
# LibTorch itself is not instrumented; its allocations are not checked. Leak checking covers
# everything (LibTorch's process-lifetime caches are reachable, not leaks).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cd build-asan
ctest -j"$(nproc)" --output-on-failure --timeout 1200 "$@"
