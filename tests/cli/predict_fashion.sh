#!/usr/bin/env bash
# Fashion-MNIST: train on a subset with a checkpoint, export, and predict
# the same test images from the .npz: the accuracy equals the trainer's own
# evaluation of the test set.
#   predict_fashion.sh CHAINJIT WORKDIR EXAMPLES FASHION_DIR
set -u
cli=$1 work=$2 examples=$3 fashion=$4
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
fail() { echo "FAIL: $*"; for f in out err; do [ -f $f ] && { echo "--- $f:"; cat $f; }; done; exit 1; }
run() { "$cli" "$@" >out 2>err || fail "exit code $? from: chainjit $*"; }

run train "$examples/fashion_mlp.cj" \
  --idx-images "$fashion/train-images-idx3-ubyte.gz" --idx-labels "$fashion/train-labels-idx1-ubyte.gz" \
  --idx-test-images "$fashion/t10k-images-idx3-ubyte.gz" --idx-test-labels "$fashion/t10k-labels-idx1-ubyte.gz" \
  --limit 2000 --scale 0.00392156862745098 --optimizer momentum --lr 0.05 --batch 64 --epochs 2 \
  --checkpoint fashion.ckpt
trained=$(sed -n 's/^test loss .*  accuracy \([0-9.]*\)%  (2000 samples)$/\1/p' out)
[ -n "$trained" ] || fail "no test accuracy from train"
run params export fashion.ckpt -o fashion.npz
run predict "$examples/fashion_mlp.cj" --params fashion.npz \
  --data "$fashion/t10k-images-idx3-ubyte.gz" --idx-labels "$fashion/t10k-labels-idx1-ubyte.gz" \
  --limit 2000 -o predictions.csv
predicted=$(sed -n 's/^accuracy \([0-9.]*\)% (.*)$/\1/p' err)
[ "$predicted" = "$trained" ] || fail "predict: accuracy $predicted%, train: $trained%"
echo "ok"
