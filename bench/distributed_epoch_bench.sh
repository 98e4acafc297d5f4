#!/usr/bin/env bash
# The epoch time of data-parallel training at 1 and 2 ranks (issue 16): the
# training time `chainjit train` reports (the epochs' step times, compilation
# of the first epoch excluded by taking the last epoch), for the MLP and the
# CNN. Fashion-MNIST when Debian's dataset-fashion-mnist is installed, the
# UCI digits otherwise. On a 2-core machine the ratio, not a speed-up, is the
# point: it shows what the allreduce adds per step.
#
#   bench/distributed_epoch_bench.sh [BUILD_DIR] [EPOCHS]    # default build, 3
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cj="${1:-$here/build}/chainjit"
epochs="${2:-3}"
# Ranks that wait yield the CPU (Open MPI busy-polls otherwise, which on
# an oversubscribed machine takes the core from the rank being waited for).
export OMPI_MCA_mpi_yield_when_idle=1
mpirun=(mpirun --oversubscribe --allow-run-as-root)
f=/usr/share/datasets/fashion-mnist
if [[ -f $f/train-images-idx3-ubyte.gz ]]; then
  data=(--idx-images "$f/train-images-idx3-ubyte.gz" --idx-labels "$f/train-labels-idx1-ubyte.gz"
        --scale 0.00392156862745098 --limit 12000)
  models=(fashion_mlp fashion_cnn)
else
  data=(--data "$here/examples/data/digits.csv.gz" --scale 0.0625)
  models=(digits_mlp digits_cnn)
fi

# Seconds of the last epoch: the last field of the last row of --curves.
curves=$(mktemp)
trap 'rm -f "$curves"' EXIT
last_epoch() { "$@" --curves "$curves" >/dev/null 2>&1 && tail -1 "$curves" | awk -F, '{printf "%.4f", $NF}'; }

printf '%-12s %6s %12s %12s %8s\n' model batch "1 rank (s)" "2 ranks (s)" ratio
for m in "${models[@]}"; do
  for batch in 32 256; do
    args=(train "$here/examples/$m.cj" "${data[@]}" --optimizer momentum --lr 0.05
          --batch "$batch" --epochs "$epochs")
    one=$(last_epoch "$cj" "${args[@]}")
    two=$(last_epoch "${mpirun[@]}" -np 2 "$cj" "${args[@]}")
    printf '%-12s %6s %12s %12s %8.2f\n' "$m" "$batch" "$one" "$two" \
      "$(awk -v a="$two" -v b="$one" 'BEGIN {print a / b}')"
  done
done
