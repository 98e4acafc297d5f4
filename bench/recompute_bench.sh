#!/usr/bin/env bash
# Memory-limited gradients beside PyTorch's checkpoint_sequential (issue 15):
# builds and runs bench/recompute_bench, then bench/recompute_torch.py on the
# same MLP with the side-by-side table.
#
#   bench/recompute_bench.sh [BUILD_DIR] [LAYERS WIDTH BATCH]   # default build, 64 512 64
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
shift || true
dims=("${@:-64 512 64}")
ninja -C "$build" -j2 recompute_bench
out="$build/bench/results"
mkdir -p "$out"
{
  echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) CPUs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
  # shellcheck disable=SC2068
  "$build/bench/recompute_bench" ${dims[@]} --results "$out/recompute.tsv"
  echo
  # shellcheck disable=SC2068
  /usr/bin/python3 "$here/bench/recompute_torch.py" ${dims[@]} --jit "$out/recompute.tsv"
} 2>&1 | tee "$out/recompute.txt"
