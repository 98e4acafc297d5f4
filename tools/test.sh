#!/usr/bin/env bash
# Bootstraps, builds everything (Release, Ninja, -j2) and runs every test;
# then, once that suite passes, builds the ASan+UBSan configuration in
# build-asan/ and runs the whole suite again there (tools/test-sanitized.sh).
# CI runs both. CHAINJIT_SKIP_SANITIZED=1 skips the second part for a quick
# local run.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/build.sh
# --timeout: a hung test without a TIMEOUT of its own fails after 5 minutes
# instead of taking CI's whole 40 (the longest test takes under a minute).
(cd "${CHAINJIT_BUILD_DIR:-build}" && ctest --output-on-failure --parallel 2 --timeout 300)
if [ "${CHAINJIT_SKIP_SANITIZED:-0}" = 1 ]; then
  echo "test: CHAINJIT_SKIP_SANITIZED=1: the ASan+UBSan suite was not run"
  exit 0
fi
./tools/test-sanitized.sh
