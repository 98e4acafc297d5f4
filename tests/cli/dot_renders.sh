#!/usr/bin/env bash
# `chainjit dump --format dot FILE | dot -Tsvg` succeeds and makes an SVG.
#   dot_renders.sh CHAINJIT DOT FILE.cj OUT.svg
set -euo pipefail
cj=$1 dot=$2 file=$3 svg=$4
mkdir -p "$(dirname "$svg")"
"$cj" dump --format dot "$file" | "$dot" -Tsvg >"$svg"
grep -q "<svg" "$svg" || { echo "FAIL: no <svg> in $svg"; exit 1; }
echo "ok: $(grep -c '<g id="node' "$svg") nodes drawn into $svg"
