#!/usr/bin/env bash
# Issue 5's speed figure: the 64-128-10 MLP on the UCI digits, SGD lr 0.1,
# batch 32, 30 epochs, inputs scaled by 1/16, 80/20 split — the run PyTorch
# does in about 0.67 s on this kind of machine (the issue's measurement; the
# target is at most a fifth of it). Prints the training time the tool reports
# (sum of the epochs' step times) for the JIT (median of 5 runs) and the
# interpreter (1 run), the test accuracy, and the ratios.
#
#   bench/train_digits_bench.sh [BUILD_DIR]      # default: build
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cj="${1:-$here/build}/chainjit"
pytorch_seconds=0.67
args=(train "$here/examples/digits_mlp.cj" --data "$here/examples/data/digits.csv.gz"
      --scale 0.0625 --optimizer sgd --lr 0.1 --batch 32 --epochs 30)

# "training time 0.0441 s over 30 epochs" and "test loss ... accuracy 97.77%"
run() {
  "$cj" "${args[@]}" --backend "$1" 2>&1 |
    awk '/^training time/ {t=$3} /^test loss/ {a=$5} END {print t, a}'
}

jit_times=()
for _ in 1 2 3 4 5; do
  read -r t acc < <(run jit)
  jit_times+=("$t")
done
jit=$(printf '%s\n' "${jit_times[@]}" | sort -g | sed -n 3p)
read -r interp interp_acc < <(run interp)

printf '%-22s %12s %10s %16s\n' backend "time (s)" "test acc" "vs PyTorch 0.67 s"
printf '%-22s %12.4f %10s %15.1fx\n' "jit (median of 5)" "$jit" "$acc" \
  "$(awk -v a="$pytorch_seconds" -v b="$jit" 'BEGIN {print a / b}')"
printf '%-22s %12.4f %10s %15.2fx\n' "interp" "$interp" "$interp_acc" \
  "$(awk -v a="$pytorch_seconds" -v b="$interp" 'BEGIN {print a / b}')"
echo "target: jit at most 0.134 s (a fifth of PyTorch's 0.67 s), test accuracy >= 97%"
