#!/usr/bin/env bash
# predict streams .npy data and IDX images without labels a chunk at a time
# (docs/deploy.md): the same predictions as from the same rows in CSV, also
# under an allocation limit smaller than the file (which reading the file
# whole would refuse), from a gzip-compressed IDX file too; a file that ends
# early or has bytes after its data is an error naming it.
#   predict_streams.sh CHAINJIT WORKDIR EXAMPLES
set -u
cli=$1 work=$2 examples=$3
model=$examples/digits_mlp.cj data=$examples/data/digits.csv.gz
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
fail() { echo "FAIL: $*"; for f in out err; do [ -f $f ] && { echo "--- $f:"; cat $f; }; done; exit 1; }
run() { "$cli" "$@" >out 2>err || fail "exit code $? from: chainjit $*"; }
fails() { # EXPECTED-STDERR-REGEX chainjit args...
  local re=$1
  shift
  "$cli" "$@" >out 2>err && fail "succeeded: chainjit $*"
  grep -Eq "$re" err || fail "no '$re' from: chainjit $*"
}
# Binary files from comma-separated bytes on stdin: one printf for them all.
bytes() { printf "$1$(awk -F, '{ for (i = 1; i <= NF; ++i) printf "\\%03o", $i }')"; }
be32() { printf '\\%03o\\%03o\\%03o\\%03o' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255)); }

run train "$model" --data "$data" --scale 0.0625 --epochs 2 --checkpoint d.ckpt
zcat "$data" | grep -v '^[#a-z]' | cut -d, -f1-64 >x.csv
rows=$(wc -l <x.csv)
run predict "$model" --params d.ckpt --data x.csv --batch 100 -o from_csv.csv

# x.npy: the pixels as '<i4' [rows, 64], a version 1.0 header whose data
# starts at a multiple of 64 bytes ($off).
dict="{'descr': '<i4', 'fortran_order': False, 'shape': ($rows, 64), }"
off=$(((10 + ${#dict} + 1 + 63) / 64 * 64))
hl=$((off - 10))
header="\\223NUMPY\\001\\000$(printf '\\%03o' $hl)\\000$dict$(printf '%*s' $((hl - ${#dict} - 1)) '')\\n"
awk -F, -v OFS=, '{ for (i = 1; i <= NF; ++i) $i = $i ",0,0,0"; print }' x.csv | bytes "$header" >x.npy
[ "$(wc -c <x.npy)" -eq $((off + rows * 256)) ] || fail "x.npy has the wrong size"
# 460 kB of file, 300 kB of limit: chunks of 100 rows fit, the whole file does not.
run predict "$model" --params d.ckpt --data x.npy --batch 100 --alloc-limit 300K -o from_npy.csv
cmp from_npy.csv from_csv.csv || fail "predictions from .npy and CSV differ"
grep -q "^predicted $rows rows of 10 classes" err || fail "npy: predicted line"
fails "^x\.npy: error: the file is larger than the allocation limit|^x\.npy: error: .*allocation limit" \
  run "$model" --params d.ckpt --outputs predicted -i x=x.npy --alloc-limit 300K

# IDX images alone (no labels): plain and gzip-compressed.
header="\\000\\000\\010\\003$(be32 "$rows")$(be32 8)$(be32 8)"
bytes "$header" <x.csv >images.idx
[ "$(wc -c <images.idx)" -eq $((16 + rows * 64)) ] || fail "images.idx has the wrong size"
run predict "$model" --params d.ckpt --data images.idx --batch 100 --alloc-limit 300K -o from_idx.csv
cmp from_idx.csv from_csv.csv || fail "predictions from IDX images and CSV differ"
! grep -q "^accuracy" err || fail "an accuracy without labels"
gzip -c images.idx >images.idx.gz
run predict "$model" --params d.ckpt --data images.idx.gz --batch 100 -o from_idx_gz.csv
cmp from_idx_gz.csv from_csv.csv || fail "predictions from gzip IDX images differ"

# Damaged files: the error names the file and what is wrong, no predictions file.
head -c $((off + 1000 * 256 + 7)) x.npy >short.npy
fails "^short\.npy: error: truncated \.npy data: shape \($rows, 64\) of '<i4' needs $((rows * 256)) bytes from byte offset $off, the file ends at byte offset $((off + 1000 * 256 + 7))$" \
  predict "$model" --params d.ckpt --data short.npy --batch 100 -o never.csv
{ cat x.npy; printf 'x'; } >long.npy
fails "^long\.npy: error: the \.npy file has bytes after the data of shape \($rows, 64\) of '<i4' \(from byte offset $((off + rows * 256))\)$" \
  predict "$model" --params d.ckpt --data long.npy -o never.csv
head -c 1000 images.idx >short.idx
fails "^short\.idx: error: truncated IDX file: dimensions $rows x 8 x 8 need $((rows * 64)) data bytes after the 16-byte header, the file ends at byte offset 1000$" \
  predict "$model" --params d.ckpt --data short.idx -o never.csv
fails "^nothing\.idx: error: cannot open the file" \
  predict "$model" --params d.ckpt --data nothing.idx -o never.csv
cp x.csv notidx.bin
fails "^notidx\.bin: error: bad magic number 0x[0-9a-f]{8} for an IDX images file \(expected 0x00000803, unsigned bytes, 3 dimensions\)$" \
  predict "$model" --params d.ckpt --data notidx.bin -o never.csv
[ ! -e never.csv ] && [ ! -e never.csv.tmp ] || fail "a predictions file was left"
echo "ok"
