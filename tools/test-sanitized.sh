#!/usr/bin/env bash
# Builds chainjit with AddressSanitizer + UndefinedBehaviorSanitizer (clang-19,
# -DCHAINJIT_ASAN=ON, with the libFuzzer targets: -DCHAINJIT_FUZZ=ON) in
# build-asan/ and runs its whole ctest suite there, the fuzz smoke tests
# (label `fuzz`) included. The first sanitizer report ends its process with a
# non-zero status, so it fails its test. tools/test.sh calls this after the
# Release suite passes.
#   CHAINJIT_ASAN_BUILD_DIR   another build directory (default build-asan)
#   arguments                 passed to ctest, e.g. -R JitKernels or -L fuzz
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/bootstrap.sh
build=${CHAINJIT_ASAN_BUILD_DIR:-build-asan}
launcher=()
# ccache (installed by the bootstrap) makes rebuilds of unchanged files free,
# also in another clone of the repository: paths are hashed relative to it.
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  # This build has debug info (-g), which makes ccache hash the working
  # directory too; don't, so another clone's objects serve this one (their
  # debug info then names that clone's directory).
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
fi
# The flags are those of docs/reliability.md, so that every checkout's
# sanitizer build shares its ccache objects.
CC=clang-19 CXX=clang++-19 cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCHAINJIT_ASAN=ON -DCHAINJIT_FUZZ=ON -DCHAINJIT_BUILD_BENCH=OFF "${launcher[@]}"
cmake --build "$build" --parallel 2

# The runtime options every test process inherits (set them yourself to run
# a test binary of build-asan/ by hand: `. tools/sanitizers/options.sh`).
. tools/sanitizers/options.sh
cd "$build"
# The suite takes about 2 minutes here (the slowest test, cli.train.digits_cnn,
# under 80 s); --timeout as in tools/test.sh.
ctest --output-on-failure --parallel 2 --timeout 300 "$@"
