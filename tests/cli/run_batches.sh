#!/usr/bin/env bash
# `run` of a model written for batch 32 (digits_mlp.cj) at 1, 7 and 1000
# rows, the batch size taken from the input file and from --batch, gives
# the rows of the batch-32 result, bit for bit (the interpreter).
#   run_batches.sh CHAINJIT WORKDIR EXAMPLES
set -u
cli=$1 work=$2 examples=$3
model=$examples/digits_mlp.cj
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
fail() { echo "FAIL: $*"; for f in out err; do [ -f $f ] && { echo "--- $f:"; cat $f; }; done; exit 1; }
run() { "$cli" "$@" >out 2>err || fail "exit code $? from: chainjit $*"; }

zcat "$examples/data/digits.csv.gz" | grep -v '^[#a-z]' | head -1000 | cut -d, -f1-64 >x1000.csv
[ "$(wc -l <x1000.csv)" -eq 1000 ] || fail "no 1000 rows"
for n in 1 7 32; do head -$n x1000.csv >x$n.csv; done
for n in 1 7 32 1000; do
  run run "$model" --outputs logits,predicted -i x=x$n.csv -o out$n --output-format csv
  grep -q "^%logits : f32\[$n, 10\] -> out$n/logits.csv$" out || fail "batch $n: $(cat out)"
done
for n in 1 7 1000; do
  k=$((n < 32 ? n : 32))
  for v in logits predicted; do
    cmp <(head -$k out$n/$v.csv) <(head -$k out32/$v.csv) || fail "batch $n: %$v differs"
  done
done
# --batch: the same at 7 from a file of 7 rows; a file of other rows is refused.
run run "$model" --outputs predicted -i x=x7.csv --batch 7 -o b7.csv
cmp b7.csv out7/predicted.csv || fail "--batch 7 differs"
"$cli" run "$model" --outputs predicted -i x=x1000.csv --batch 7 >out 2>err && fail "--batch 7 with 1000 rows"
grep -q "input %x is f32\[7, 64\] (448 values) but the file holds a table of shape \[1000, 64\]" err ||
  fail "--batch 7 with 1000 rows: message"
echo "ok"
