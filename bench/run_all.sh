#!/usr/bin/env bash
# Runs every issue-4 benchmark in one go and prints the side-by-side tables:
#   1. bench/jit_train_step_bench  (training steps vs their GEMMs, compile times, BLAS threshold)
#   2. bench/jit_jacobian_bench    (Jacobians: optimal/forward/reverse vs the cost model and BLAS)
#   3. bench/torch_compare.py      (the same in PyTorch, and the ratio table), if python3-torch is installed
#   4. bench/sparse_layer_bench    (issue 10: a CSR graph-convolution layer, time vs bandwidth, memory vs edges)
#   5. bench/time_model_bench      (issue 14: Jacobian plans predicted in time vs measured, rank correlation)
#   6. bench/epoch_bench + bench/epoch_torch.py (issue 14: whole Fashion-MNIST epochs, the share
#      outside the compiled steps, each model's step profiled kernel by kernel (--profile);
#      then PyTorch's epoch alternating with chainjit's, 3 rounds
#      per model, the median ratio; $FASHION_MNIST_DIR, default Debian's
#      /usr/share/datasets/fashion-mnist, else synthetic data of its shape)
#   7. bench/jit_compile_bench     (issue 14: cold and cached compile of the benchmark models)
#   8. bench/conv_layer_bench      (issue 14: the CNN's convolutions, GEMM vs direct, and its step)
#   9. bench/issue14_targets.py    (issue 14's targets, one line each, from the results files
#      the programs above wrote: value, bound, met)
# The matmul kernel choice is measured per machine on first use (cached in the
# cache directory); the step benchmark prints it beside the measured winners.
#
#   bench/run_all.sh [BUILD_DIR]        # default build-bench; builds the programs first (ninja -j2)
#
# Output also goes to BUILD_DIR/bench/results/ (run_all.txt and the .tsv files).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build-bench}"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
ninja -C "$build" -j2 jit_train_step_bench jit_jacobian_bench sparse_layer_bench time_model_bench epoch_bench \
  jit_compile_bench conv_layer_bench chainjit_cli
# Where OpenBLAS does not know this CPU and falls back to kernels below its
# ISA, chainjit and the bench programs rerun themselves with the right ones
# (compiler BlasCore.h); exporting the core here gives PyTorch's scripts the
# same kernels, so both sides of every table run the same BLAS.
if [[ -z "${OPENBLAS_CORETYPE:-}" ]]; then
  core="$("$build/chainjit" --version | sed -n 's/.*, core \([A-Za-z0-9]*\) (OpenBLAS chose.*/\1/p')"
  if [[ -n "$core" ]]; then
    export OPENBLAS_CORETYPE="$core"
    echo "OpenBLAS did not know this CPU: OPENBLAS_CORETYPE=$core for every program below"
  fi
fi
fashion="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
out="$build/bench/results"
mkdir -p "$out"
rm -f "$out"/*.tsv # a program that does not run this time leaves no old numbers behind
{
  echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(lscpu | sed -n 's/^Model name: *//p') ($(nproc) CPUs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== git $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "== ISA: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_fp16|amx_tile' | tr '\n' ' ')"
  echo "== $("$build/chainjit" --version | sed -n 's/^BLAS: /BLAS: /p')"
  echo "== each program prints its machine (CPU, ISA, OpenBLAS config and core) at its top"
  echo
  "$build/bench/jit_train_step_bench" --results "$out/steps.tsv"
  echo
  "$build/bench/jit_jacobian_bench" --results "$out/jacobians.tsv"
  echo
  if [[ -x /usr/bin/python3 ]]; then
    /usr/bin/python3 "$here/bench/torch_compare.py" --jit "$out/steps.tsv" "$out/jacobians.tsv" \
      --results "$out/torch.tsv"
  else
    echo "no /usr/bin/python3: skipping the PyTorch comparison"
  fi
  echo
  "$build/bench/sparse_layer_bench" --results "$out/sparse.tsv"
  echo
  "$build/bench/time_model_bench" --results "$out/last_product.tsv"
  echo
  "$build/bench/epoch_bench" --data "$fashion" --examples "$here/examples" --results "$out/epochs.tsv" \
    --profile
  if [[ -x /usr/bin/python3 ]]; then
    # Side by side: 3 rounds per model of chainjit's epoch, then PyTorch's
    # (the ratio of each round, and their median).
    /usr/bin/python3 "$here/bench/epoch_torch.py" --data "$fashion" --rounds 3 \
      --epoch-bench "$build/bench/epoch_bench" --examples "$here/examples" \
      --results "$out/epoch_rounds.tsv"
  fi
  echo
  "$build/bench/jit_compile_bench" --examples "$here/examples" --results "$out/compile.tsv"
  echo
  "$build/bench/conv_layer_bench" "$here/examples/fashion_cnn.cj"
  echo
  if [[ -x /usr/bin/python3 ]]; then
    /usr/bin/python3 "$here/bench/issue14_targets.py" "$out"
  fi
} 2>&1 | tee "$out/run_all.txt"
