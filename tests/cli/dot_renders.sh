#!/usr/bin/env bash
# A command's DOT output renders with `dot -Tsvg` into an SVG.
#   dot_renders.sh DOT OUT.svg COMMAND [ARG]...
# e.g. dot_renders.sh /usr/bin/dot out/mlp.svg chainjit dump --format dot mlp.cj
set -euo pipefail
dot=$1 svg=${2:-}
case $svg in
  *.svg) ;;
  *) echo "dot_renders.sh: OUT must end in .svg, got '$svg'" >&2; exit 99 ;;
esac
shift 2
mkdir -p "$(dirname "$svg")"
"$@" | "$dot" -Tsvg >"$svg"
grep -q "<svg" "$svg" || { echo "FAIL: no <svg> in $svg"; exit 1; }
echo "ok: $(grep -c '<g id="node' "$svg") nodes drawn into $svg"
