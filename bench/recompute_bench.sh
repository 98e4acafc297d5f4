#!/usr/bin/env bash
# Memory-limited gradients beside PyTorch's checkpoint_sequential (issue 15):
# builds and runs bench/recompute_bench, then bench/recompute_torch.py on the
# same MLP with the side-by-side table; then the same for a long LSTM
# (bench/scan_recompute_bench and bench/scan_recompute_torch.py: a scan of
# 1000 steps, whose tape the memory limit nests into windows).
#
#   bench/recompute_bench.sh [BUILD_DIR] [LAYERS WIDTH BATCH]   # default build, 64 512 64
#   LSTM="1000 64 16 8" bench/recompute_bench.sh                # steps hidden batch inputs
#   ONLY=mlp|lstm bench/recompute_bench.sh                      # one of the two
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build}"
shift || true
dims=("${@:-64 512 64}")
lstm="${LSTM:-1000 64 16 8}"
only="${ONLY:-}"
out="$build/bench/results"
mkdir -p "$out"
if [ "$only" != lstm ]; then
  ninja -C "$build" -j2 recompute_bench
  {
    echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) CPUs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
    # shellcheck disable=SC2068
    "$build/bench/recompute_bench" ${dims[@]} --results "$out/recompute.tsv"
    echo
    # shellcheck disable=SC2068
    /usr/bin/python3 "$here/bench/recompute_torch.py" ${dims[@]} --jit "$out/recompute.tsv"
  } 2>&1 | tee "$out/recompute.txt"
fi
if [ "$only" != mlp ]; then
  ninja -C "$build" -j2 scan_recompute_bench
  {
    echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) CPUs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
    # shellcheck disable=SC2086
    "$build/bench/scan_recompute_bench" $lstm --results "$out/scan_recompute.tsv"
    echo
    # shellcheck disable=SC2086
    /usr/bin/python3 "$here/bench/scan_recompute_torch.py" $lstm --jit "$out/scan_recompute.tsv"
  } 2>&1 | tee "$out/scan_recompute.txt"
fi
