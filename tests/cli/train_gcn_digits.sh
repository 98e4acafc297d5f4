#!/usr/bin/env bash
# docs/models.md, "Example: GCN on the digits graph": prepare the k-nearest-
# neighbour graph of the digits with examples/make_gcn_digits.py and run the
# page's `chainjit train` command as written there (D the data directory):
# 100 labelled nodes, at least 90% accuracy on the 1497 test nodes (chance is
# 10%; the page reports 95.7%). Skipped (exit 77) where /usr/bin/python3 has
# no NumPy to prepare the graph with.
#   train_gcn_digits.sh CHAINJIT WORKDIR EXAMPLES
set -u
cli=$1 work=$2 examples=$3
/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "no NumPy in /usr/bin/python3: skipped"; exit 77; }
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
fail() { echo "FAIL: $*"; for f in prep out err; do [ -f $f ] && { echo "--- $f:"; cat $f; }; done; exit 1; }

D=gcn_data
/usr/bin/python3 "$examples/make_gcn_digits.py" $D >prep 2>&1 || fail "make_gcn_digits.py failed"
grep -q '^1797 nodes, 26475 adjacency entries' prep || fail "unexpected graph (the model declares 26475 entries)"
"$cli" train "$examples/gcn_digits.cj" \
      --data x=$D/x.npy,row_ptr=$D/row_ptr.npy,col_idx=$D/col_idx.npy,values=$D/values.npy,labels=$D/labels.npy \
      --masks train=$D/train.npy,validation=$D/val.npy,test=$D/test.npy \
      --optimizer adam --lr 0.01 --l2 5e-4 --epochs 200 >out 2>err || fail "exit code $? from chainjit train"
grep -qx 'data: one graph of 1797 nodes: 100 train, 200 validation, 1497 test nodes' out || fail "data line"
grep -q '^epoch 200/200  train loss ' err || fail "no 200th epoch"
acc=$(sed -n 's/^test loss [^ ]*  accuracy \([0-9.]*\)%  (1497 nodes)$/\1/p' out)
[ -n "$acc" ] || fail "no test accuracy"
awk -v a="$acc" 'BEGIN { exit !(a >= 90) }' || fail "test accuracy $acc% < 90%"
echo "ok: test accuracy $acc%"
