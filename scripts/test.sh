#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up, builds and runs every test (GoogleTest, Qt Test offscreen, CLI).
#   scripts/test.sh              Release build in build/
#   scripts/test.sh --sanitize   GCC ASan + UBSan build in build-asan/ (leak checking on; any
#                                finding fails), the same test suite, GUI tests included
#                                (the libFuzzer targets build with clang: scripts/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ccache-env.sh
mode=${1:-}
bash scripts/install-deps.sh
case "$mode" in
  "")
    bash scripts/build.sh
    cd build && ctest --output-on-failure -j"$(nproc)"
    ;;
  --sanitize)
    # GCC: it instruments the SIMD kernels about 3x faster than clang 14
    # (pot_scan.cpp at -O1: 112 s against 388 s), and CI builds everything here.
    # A build-asan/ from before (clang, with the fuzz targets) cannot switch compilers in place.
    if grep -q '^CMAKE_CXX_COMPILER:.*clang' build-asan/CMakeCache.txt 2>/dev/null; then rm -rf build-asan; fi
    configure() {
      cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
        -DSPECMAMBA_SANITIZE=ON -DSPECMAMBA_FUZZ=OFF -DSPECMAMBA_BENCH=OFF >/dev/null
    }
    configure
    # A cache made without an explicit compiler is deleted when the compiler is
    # set, and CMake then drops the other -D options: the build would not be
    # sanitized. Configure once more so they take.
    grep -q '^SPECMAMBA_SANITIZE:BOOL=ON' build-asan/CMakeCache.txt || configure
    grep -q '^SPECMAMBA_SANITIZE:BOOL=ON' build-asan/CMakeCache.txt ||
      { echo "test.sh: build-asan is not configured with SPECMAMBA_SANITIZE=ON" >&2; exit 1; }
    cmake --build build-asan -j"$(nproc)"
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
    # The two model-quality checks on the shipped pair (held-out bits per byte,
    # acceptance length) take 7 of the suite's 9 CPU-minutes under ASan and
    # exercise no code the rest of the suite does not: the Release run has them.
    # So does the quantize CLI script: its loader and kernel paths run under
    # ASan in test_quantized_model (LyingFile.*, QuantizedModel.*).
    cd build-asan && ctest --output-on-failure -j"$(nproc)" \
      -E '^(ShippedModels\.(EvalMatchesTrainingToolHeldOutBitsPerByte|GreedyChainOfFourAcceptsAtLeastTwoAndAHalfTokens)|cli_quantize_tests)$'
    ;;
  *)
    echo "usage: scripts/test.sh [--sanitize]" >&2
    exit 2
    ;;
esac
