#!/usr/bin/env bash
# The demo: bootstraps, builds the chainjit tool (Release, Ninja, -j2), then
# prints the IR of the example MLP and evaluates it with the reference
# interpreter on the 32 digit images of examples/data/ (CSV files; the
# weights come from the initializers written in the model).
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/build.sh chainjit_cli

run() {
  echo
  echo "\$ $*"
  "$@"
}
cj=${CHAINJIT_BUILD_DIR:-build}/chainjit
echo
echo "=== the example model, parsed, verified and printed ==="
run $cj dump examples/mlp.cj
echo
echo "=== evaluated by the interpreter (eval mode) ==="
run $cj run examples/mlp.cj \
  --input x=examples/data/mlp_x.csv --input labels=examples/data/mlp_labels.csv
echo
echo "=== the same, compiled to native code by the JIT: its plan, then the run ==="
run $cj run examples/mlp.cj --backend jit --emit plan
run $cj run examples/mlp.cj --backend jit --time-passes \
  --input x=examples/data/mlp_x.csv --input labels=examples/data/mlp_labels.csv
echo
echo "=== a CNN on .npy inputs ==="
run $cj run examples/cnn.cj --backend jit \
  --input images=examples/data/cnn_images.npy --input labels=examples/data/cnn_labels.npy
echo
echo "=== training the 64-128-10 MLP on the UCI digits (SGD, 30 epochs, JIT) ==="
run $cj train examples/digits_mlp.cj --data examples/data/digits.csv.gz --scale 0.0625 \
  --optimizer sgd --lr 0.1 --batch 32 --epochs 30
echo
echo "More: $cj --help, docs/cli.md;" \
  "'$cj dump examples/mlp.cj --format dot | dot -Tsvg > mlp.svg' draws the graph."
