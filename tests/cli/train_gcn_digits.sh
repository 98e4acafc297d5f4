#!/usr/bin/env bash
# docs/models.md, "Example: GCN on the digits graph": prepare the k-nearest-
# neighbour graph of the digits with examples/make_gcn_digits.py and run the
# page's `chainjit train` command as written there (D the data directory):
# 100 labelled nodes, at least 94% accuracy (the target; chance is
# 10%) on the 1497 test nodes and on all 1697 unlabelled nodes (validation +
# test: the final validation accuracy of epoch 200 and the test accuracy,
# counted back to nodes). The page reports 95.72% and 95.88%; over 5 seeds of
# the masks and the init, 95.1% to 97.5% on the test nodes. Skipped (exit 77)
# where /usr/bin/python3 has no NumPy to prepare the graph with.
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
awk -v a="$acc" 'BEGIN { exit !(a >= 94) }' || fail "test accuracy $acc% < 94%"
val=$(sed -n 's/^epoch 200\/200  .*  val loss [^ ]* acc \([0-9.]*\)%  .*$/\1/p' err)
[ -n "$val" ] || fail "no validation accuracy in epoch 200"
unl=$(awk -v v="$val" -v t="$acc" 'BEGIN { c = int(v * 2 + 0.5) + int(t * 14.97 + 0.5); printf "%.4f", 100 * c / 1697 }')
awk -v a="$unl" 'BEGIN { exit !(a >= 94) }' || fail "unlabelled accuracy $unl% < 94%"
echo "ok: test accuracy $acc% (1497 nodes), unlabelled accuracy $unl% (1697 nodes)"
