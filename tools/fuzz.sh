#!/usr/bin/env bash
# Runs one libFuzzer target of fuzz/ for a long time (docs/fuzzing.md).
#
#   tools/fuzz.sh TARGET [SECONDS] [CORPUS_DIR]
#
# TARGET is one of the targets fuzz/CMakeLists.txt declares
# (chainjit_fuzz_target(NAME MAX_LEN): parse_cj, read_npy, ...).
# SECONDS defaults to 3600 (0: until stopped). CORPUS_DIR, the corpus the run
# grows and keeps between runs, defaults to build-asan/fuzz/corpus/TARGET; it
# starts as a copy of fuzz/corpus/TARGET. Crashing inputs go to
# build-asan/fuzz/artifacts/TARGET/. Environment:
#   BUILD_DIR  the sanitizer build (default build-asan, configured as
#              docs/fuzzing.md says; the target is built if needed)
#   JOBS       parallel fuzzing processes (default: half the cores)
#   MAX_LEN    -max_len (default: the target's, as in fuzz/CMakeLists.txt)
# Extra libFuzzer flags can follow after `--`.
set -euo pipefail

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
target=$1
shift
seconds=3600
corpus=
if [ $# -ge 1 ] && [ "$1" != "--" ]; then seconds=$1; shift; fi
if [ $# -ge 1 ] && [ "$1" != "--" ]; then corpus=$1; shift; fi
[ "${1:-}" = "--" ] && shift

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${BUILD_DIR:-$root/build-asan}" 2>/dev/null && pwd || echo "${BUILD_DIR:-$root/build-asan}")
# The targets and their -max_len, from the one list of them (the smoke
# tests' own): a list kept here as well had fallen behind it.
targets=$(sed -n 's/^ *chainjit_fuzz_target(\([a-z_]*\) \([0-9]*\))$/\1 \2/p' \
  "$root/fuzz/CMakeLists.txt")
default_len=$(echo "$targets" | awk -v t="$target" '$1 == t { print $2 }')
if [ -z "$default_len" ]; then
  echo "unknown fuzz target '$target' ($(echo "$targets" | awk '{ print $1 }' | paste -sd, - |
    sed 's/,/, /g'))" >&2
  exit 2
fi
[ -f "$build/build.ninja" ] || [ -f "$build/Makefile" ] || {
  echo "no build in $build: configure it as docs/fuzzing.md says (CHAINJIT_ASAN=ON, CHAINJIT_FUZZ=ON)" >&2
  exit 2
}
cmake --build "$build" --target "fuzz_$target"

corpus=${corpus:-$build/fuzz/corpus/$target}
artifacts=$build/fuzz/artifacts/$target
mkdir -p "$corpus" "$artifacts"
corpus=$(cd "$corpus" && pwd) # the run below starts in $artifacts
# Seeds join the corpus on every run (cp -n keeps what the corpus has grown).
cp -Rn "$root/fuzz/corpus/$target/." "$corpus/"

jobs=${JOBS:-$(( ($(nproc) + 1) / 2 ))}
echo "fuzzing $target for ${seconds}s with $jobs jobs; corpus $corpus; crashes to $artifacts/"
cd "$artifacts" # -jobs writes fuzz-N.log files to the working directory
exec "$build/fuzz/fuzz_$target" \
  -max_total_time="$seconds" -max_len="${MAX_LEN:-$default_len}" \
  -timeout=10 -rss_limit_mb=2048 -dict="$root/fuzz/$target.dict" \
  -artifact_prefix="$artifacts/" -print_final_stats=1 \
  -jobs="$jobs" -workers="$jobs" "$@" "$corpus"
