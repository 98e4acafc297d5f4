#!/usr/bin/env bash
# A derivative command's text output is canonical and parses back: `dump` of
# it is identical to it, and it round-trips like any graph (roundtrip.sh).
#   derivative_roundtrip.sh CHAINJIT WORK_DIR COMMAND [ARG]...
# e.g. derivative_roundtrip.sh chainjit out/grad grad mlp.cj --of loss --wrt W1
# The derived graph is left in WORK_DIR/derived.cj for later tests.
set -euo pipefail
cj=$1 work=$2
shift 2
mkdir -p "$work"
"$cj" "$@" >"$work/derived.cj"
"$cj" dump "$work/derived.cj" >"$work/dumped.cj"
if ! cmp -s "$work/derived.cj" "$work/dumped.cj"; then
  echo "FAIL: dump of the printed derivative graph differs from it:"
  diff "$work/derived.cj" "$work/dumped.cj" || true
  exit 1
fi
bash "$(dirname "$0")/roundtrip.sh" "$cj" "$work/derived.cj" "$work/roundtrip"
echo "ok: '$*' prints $(wc -l <"$work/derived.cj") lines that parse back"
