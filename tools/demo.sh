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
echo "=== a CNN on .npy inputs ==="
run $cj run examples/cnn.cj \
  --input images=examples/data/cnn_images.npy --input labels=examples/data/cnn_labels.npy
echo
echo "More: $cj --help, docs/cli.md;" \
  "'$cj dump examples/mlp.cj --format dot | dot -Tsvg > mlp.svg' draws the graph."
