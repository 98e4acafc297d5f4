#!/usr/bin/env bash
# Train -> export -> predict on the digits: the accuracy of predictions from
# the exported weights is the trainer's own test accuracy; predictions from
# the checkpoint and from the exported .npz are the same file; `predict --raw` on prepared
# features gives the classes `run --params --outputs predicted` gives (no
# labels needed); `train --init-from` takes the exported weights.
#   predict_digits.sh CHAINJIT WORKDIR EXAMPLES
set -u
cli=$1 work=$2 examples=$3
model=$examples/digits_mlp.cj data=$examples/data/digits.csv.gz
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
fail() { echo "FAIL: $*"; for f in out err; do [ -f $f ] && { echo "--- $f:"; cat $f; }; done; exit 1; }
run() { "$cli" "$@" >out 2>err || fail "exit code $? from: chainjit $*"; }

run train "$model" --data "$data" --scale 0.0625 --epochs 3 --checkpoint digits.ckpt
run params export digits.ckpt -o digits.npz
grep -q "^4 params and the data preparation (scale 0.0625) -> digits.npz$" out || fail "export"
run params inspect digits.npz
grep -q "^  W1 : f32\[64, 128\]  crc32 [0-9a-f]\{8\}$" out || fail "inspect: no W1"
grep -q "^data preparation: scale 0.0625$" out || fail "inspect: no data preparation"
run params inspect digits.ckpt
grep -q "^training state: 3 epochs, [0-9]* steps done, optimizer gd" out || fail "inspect: state"

run predict "$model" --params digits.ckpt --data "$data" -o from_ckpt.csv
run predict "$model" --params digits.npz --data "$data" -o from_npz.csv
cmp from_ckpt.csv from_npz.csv || fail "predictions from the checkpoint and the .npz differ"
[ "$(head -1 from_npz.csv)" = "class,p0,p1,p2,p3,p4,p5,p6,p7,p8,p9" ] || fail "header"
grep -q "^predicted 1797 rows of 10 classes (data preparation: scale 0.0625) -> from_npz.csv$" err ||
  fail "no 'predicted' line"
[ "$(wc -l <from_npz.csv)" -eq 1798 ] || fail "not 1797 rows"
grep -Eq "^accuracy (9[0-9]|100)(\.[0-9]+)?% \([0-9]+ of 1797 rows match their labels\)$" err ||
  fail "accuracy below 90%"
# The stored --scale, applied by hand: the same classes from `run`, which
# needs no labels for --outputs predicted.
zcat "$data" | grep -v '^[#a-z]' | awk -F, -v OFS=, \
  '{ for (i = 1; i <= 64; ++i) $i = $i * 0.0625; NF = 64; print }' >x.csv
run predict "$model" --params digits.npz --data x.csv --raw --backend interp -o raw.csv
run run "$model" --params digits.npz --outputs predicted -i x=x.csv -o classes.csv
tail -n +2 raw.csv | cut -d, -f1 | cmp - classes.csv || fail "predict --raw and run differ"
tail -n +2 from_npz.csv | cut -d, -f1 | cmp - classes.csv || fail "predict and run differ"
# The trainer's own evaluation: the digits as IDX files (MNIST's format),
# the first 1437 rows to train on, the last 360 as the test set, which the
# trainer evaluates in file order. predict on the test images from the
# exported weights reports the same accuracy.
idx() { # FILE MAGIC DIMS... < comma-separated bytes: writes an IDX file
  local file=$1 magic=$2 header='\000\000\010' d
  header+=$(printf '\\%03o' "$magic")
  shift 2
  for d in "$@"; do
    header+=$(printf '\\%03o\\%03o\\%03o\\%03o' $((d >> 24 & 255)) $((d >> 16 & 255)) \
      $((d >> 8 & 255)) $((d & 255)))
  done
  # One printf for all the bytes: awk writes their octal escapes.
  printf "$header$(awk -F, '{ for (i = 1; i <= NF; ++i) printf "\\%03o", $i }')" >"$file"
}
zcat "$data" | grep -v '^[#a-z]' >all.csv
head -1437 all.csv >train.csv
tail -360 all.csv >test.csv
cut -d, -f1-64 train.csv | idx train-images.idx 3 1437 8 8
cut -d, -f65 train.csv | idx train-labels.idx 1 1437
cut -d, -f1-64 test.csv | idx test-images.idx 3 360 8 8
cut -d, -f65 test.csv | idx test-labels.idx 1 360
[ "$(wc -c <test-images.idx)" -eq $((16 + 360 * 64)) ] || fail "test-images.idx"
run train "$model" --idx-images train-images.idx --idx-labels train-labels.idx \
  --idx-test-images test-images.idx --idx-test-labels test-labels.idx --scale 0.0625 \
  --epochs 3 --checkpoint idx.ckpt
trained=$(sed -n 's/^test loss .*  accuracy \([0-9.]*\)%  (360 samples)$/\1/p' out)
[ -n "$trained" ] || fail "no test accuracy from train"
run params export idx.ckpt -o idx.npz
run predict "$model" --params idx.npz --data test-images.idx --idx-labels test-labels.idx \
  -o idx_pred.csv
predicted=$(sed -n 's/^accuracy \([0-9.]*\)% (.*)$/\1/p' err)
[ "$predicted" = "$trained" ] || fail "predict: accuracy $predicted%, train: $trained%"
# The same rows as CSV give the same predictions.
run predict "$model" --params idx.npz --data test.csv -o csv_pred.csv
cmp idx_pred.csv csv_pred.csv || fail "IDX and CSV predictions differ"
# An output that is no regular file (a FIFO here, /dev/stdout in use) is
# written to, not replaced by a renamed temporary file.
mkfifo fifo
cat fifo >from_fifo.csv &
reader=$!
run predict "$model" --params idx.npz --data test.csv -o fifo
wait $reader
[ -p fifo ] || fail "the FIFO was replaced"
cmp from_fifo.csv csv_pred.csv || fail "predictions through the FIFO differ"
cat fifo >from_fifo.npz &
reader=$!
run params export idx.ckpt -o fifo
wait $reader
[ -p fifo ] || fail "params export replaced the FIFO"
cmp from_fifo.npz idx.npz || fail "the archive through the FIFO differs"
# A bad row far into a CSV file: its line number, and no predictions file.
{ echo "# a comment"; head -299 x.csv; echo "1,2,oops"; head -5 x.csv; } >bad.csv
"$cli" predict "$model" --params digits.npz --data bad.csv --batch 100 -o bad_pred.csv >out 2>err &&
  fail "predict on bad.csv succeeded"
grep -q "^bad.csv:301:" err || fail "no line 301 in the error"
[ ! -e bad_pred.csv ] && [ ! -e bad_pred.csv.tmp ] || fail "a predictions file was left"
# Training goes on from the exported weights.
run train "$model" --data "$data" --scale 0.0625 --epochs 1 --init-from digits.npz
grep -q "^initial params: 4 from digits.npz$" out || fail "init-from"
! grep -q "warning" err || fail "a warning with the same data preparation"
# ... and warns when this run prepares the data otherwise.
run train "$model" --data "$data" --epochs 1 --init-from digits.npz
grep -q "^chainjit: warning: digits.npz was trained on data prepared with scale 0.0625, this run prepares it with none" err ||
  fail "no warning about the data preparation"
echo "ok"
