#!/usr/bin/env bash
# The CTest smoke run of one fuzz target (docs/fuzzing.md):
#   smoke.sh FUZZER SEEDS REGRESSIONS DICT WORK SECONDS MAX_LEN
# First every regression input in REGRESSIONS is run once; then the target
# fuzzes for SECONDS, starting from a copy of SEEDS in WORK (the source tree
# is never written). Exits non-zero on any crash, leak, sanitizer report,
# timeout (-timeout) or memory overrun (-rss_limit_mb); the input that caused
# it is left in WORK/artifacts/.
set -euo pipefail
fuzzer=$1 seeds=$2 regressions=$3 dict=$4 work=$5 seconds=$6 max_len=$7

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
common=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/artifacts/")

if [ -d "$regressions" ]; then
  mapfile -t inputs < <(find "$regressions" -type f | sort)
  if [ "${#inputs[@]}" -gt 0 ]; then
    echo "== replaying ${#inputs[@]} regression inputs from $regressions"
    "$fuzzer" "${common[@]}" "${inputs[@]}" 2>"$work/replay.log" || {
      cat "$work/replay.log"
      echo "FAIL: a regression input crashes $fuzzer"
      exit 1
    }
  fi
fi

cp -R "$seeds/." "$work/corpus/"
echo "== fuzzing for ${seconds}s from $(ls "$work/corpus" | wc -l) seeds"
if ! "$fuzzer" "${common[@]}" -max_total_time="$seconds" -max_len="$max_len" \
    -dict="$dict" -print_final_stats=1 "$work/corpus" 2>"$work/fuzz.log"; then
  tail -n 60 "$work/fuzz.log"
  echo "FAIL: $fuzzer found a problem; the input is in $work/artifacts/:"
  ls -l "$work/artifacts/"
  echo "Reproduce with: $fuzzer $work/artifacts/<file>; then add it to $regressions/"
  exit 1
fi
grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|#[0-9]+ +DONE)' \
  "$work/fuzz.log" || true
