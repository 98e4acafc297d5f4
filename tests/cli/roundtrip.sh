#!/usr/bin/env bash
# dump of a dumped file equals the first dump, and the reparsed graph has the
# same JSON as the original.
#   roundtrip.sh CHAINJIT FILE.cj WORK_DIR
set -euo pipefail
cj=$1 file=$2 work=$3
mkdir -p "$work"
"$cj" dump "$file" >"$work/first.cj"
"$cj" dump "$work/first.cj" >"$work/second.cj"
if ! cmp -s "$work/first.cj" "$work/second.cj"; then
  echo "FAIL: dump of the dump differs from the first dump:"
  diff "$work/first.cj" "$work/second.cj" || true
  exit 1
fi
"$cj" dump --format json "$file" >"$work/first.json"
"$cj" dump --format json "$work/first.cj" >"$work/second.json"
if ! cmp -s "$work/first.json" "$work/second.json"; then
  echo "FAIL: the reparsed graph's JSON differs:"
  diff "$work/first.json" "$work/second.json" || true
  exit 1
fi
echo "ok: $(wc -l <"$work/first.cj") lines round-trip"
