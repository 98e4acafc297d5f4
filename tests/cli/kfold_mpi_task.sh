#!/usr/bin/env bash
# Cross-validation of a regression on 2 MPI ranks gives the single process's
# table, its mse column included (each rank trains its (setting, fold)
# pairs; every metric, not just the loss and the accuracy, is gathered).
#   kfold_mpi_task.sh CHAINJIT MPIRUN   (run in tests/cli/data)
# Exit 77 (skipped) when there is no mpirun or chainjit lacks MPI.
set -u
cli=$1 mpirun=$2
if [ ! -x "$mpirun" ] && ! command -v "$mpirun" >/dev/null; then
  echo "SKIP: no mpirun (chainjit built without MPI)"
  exit 77
fi
export OMPI_MCA_mpi_yield_when_idle=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
args=(train train/reg_multi.cj --data x=train/reg_x.npy,y=train/reg_y2.npy --optimizer adam
      --lr 0.05 --batch 20 --epochs 3 --kfold 3 --lr-grid 0.001,0.05)
table() { grep -E -A3 'val loss \(mean'; }
one=$("$cli" "${args[@]}" 2>/dev/null | table)
many=$("$mpirun" --oversubscribe --allow-run-as-root -np 2 "$cli" "${args[@]}" 2>/dev/null | table)
echo "--- one process:"; echo "$one"
echo "--- 2 ranks:"; echo "$many"
echo "$one" | grep -q "val mse (mean ± std)" || { echo "FAIL: no mse column"; exit 1; }
echo "$one" | grep -Eq '^\* +0\.05 +0 +0 +[0-9.]+ ± [0-9.]+ +[0-9.]+ ± [0-9.]+$' ||
  { echo "FAIL: no mse in the best row"; exit 1; }
[ "$one" = "$many" ] || { echo "FAIL: the tables differ"; exit 1; }
echo "ok"
