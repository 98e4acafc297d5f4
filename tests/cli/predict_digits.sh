#!/usr/bin/env bash
# Train -> export -> predict on the digits: predictions from the checkpoint
# and from the exported .npz are the same file; `predict --raw` on prepared
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
# IDX images and labels (MNIST's format) of the first 5 rows: the classes
# of the CSV rows.
zcat "$data" | grep -v '^[#a-z]' | head -5 >five.csv
idx() { # MAGIC_BYTE DIMS... < values -> IDX bytes
  local magic=$1; shift
  printf '\000\000\010'"\\$(printf %03o "$magic")"
  for d in "$@"; do printf "\\$(printf %03o $((d >> 24 & 255)))\\$(printf %03o $((d >> 16 & 255)))\\$(printf %03o $((d >> 8 & 255)))\\$(printf %03o $((d & 255)))"; done
  tr ',' '\n' | while read -r v; do printf "\\$(printf %03o "$v")"; done
}
cut -d, -f1-64 five.csv | idx 3 5 8 8 >images.idx
cut -d, -f65 five.csv | idx 1 5 >labels.idx
[ "$(wc -c <images.idx)" -eq $((16 + 5 * 64)) ] || fail "images.idx"
run predict "$model" --params digits.npz --data images.idx --idx-labels labels.idx -o idx.csv
run predict "$model" --params digits.npz --data "$data" --limit 5 -o five_pred.csv
cmp idx.csv five_pred.csv || fail "IDX and CSV predictions differ"
# A bad row far into a CSV file: its line number, and no predictions file.
{ echo "# a comment"; head -299 x.csv; echo "1,2,oops"; head -5 x.csv; } >bad.csv
"$cli" predict "$model" --params digits.npz --data bad.csv --batch 100 -o bad_pred.csv >out 2>err &&
  fail "predict on bad.csv succeeded"
grep -q "^bad.csv:301:" err || fail "no line 301 in the error"
[ ! -e bad_pred.csv ] && [ ! -e bad_pred.csv.tmp ] || fail "a predictions file was left"
# Training goes on from the exported weights.
run train "$model" --data "$data" --scale 0.0625 --epochs 1 --init-from digits.npz
grep -q "^initial params: 4 from digits.npz$" out || fail "init-from"
echo "ok"
