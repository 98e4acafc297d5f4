#!/usr/bin/env bash
# Bootstraps, builds everything (Release, Ninja, -j2) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/build.sh
cd "${CHAINJIT_BUILD_DIR:-build}"
ctest --output-on-failure --parallel 2
