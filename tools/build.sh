#!/usr/bin/env bash
# Installs the missing Debian packages, configures build/ (Release, Ninja)
# and builds with 2 jobs. Arguments are build targets (default: all).
# CHAINJIT_BUILD_DIR names another build directory.
#   tools/build.sh                 everything, tests included
#   tools/build.sh chainjit_cli    just the command-line tool
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/bootstrap.sh
build=${CHAINJIT_BUILD_DIR:-build}
launcher=()
# ccache (installed by the bootstrap) makes rebuilds of unchanged files free,
# also in another clone of the repository: paths are hashed relative to it.
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}"
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build" --parallel 2 "${targets[@]}"
