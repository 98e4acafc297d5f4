#!/usr/bin/env bash
# Checks `chainjit sample` end to end:
#   sample_check.sh COUNT CHAINJIT sample MODEL ARG...
# runs the command (which must not give --seed) with --count COUNT --seed 1
# twice and with --seed 2 once, and checks that the same seed prints the
# same lines, another seed other lines, and that there are COUNT lines, each
# a non-empty word of the vocabulary's symbols (a-z and ').
set -u
count=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for run in a:1 b:1 c:2; do
  name=${run%%:*} seed=${run##*:}
  "$@" --count "$count" --seed "$seed" >"$tmp/$name" 2>"$tmp/$name.err" ||
    { echo "FAIL: exit $? for seed $seed"; cat "$tmp/$name.err"; exit 1; }
done
echo "--- seed 1:"; cat "$tmp/a"
echo "--- seed 2:"; cat "$tmp/c"
status=0
cmp -s "$tmp/a" "$tmp/b" || { echo "FAIL: seed 1 printed different words twice"; status=1; }
cmp -s "$tmp/a" "$tmp/c" && { echo "FAIL: seeds 1 and 2 printed the same words"; status=1; }
lines=$(wc -l <"$tmp/a")
[ "$lines" = "$count" ] || { echo "FAIL: $lines lines, expected $count"; status=1; }
if grep -Evq "^[a-z']+$" "$tmp/a" "$tmp/c"; then
  echo "FAIL: a line is empty or holds a character outside a-z and '"
  status=1
fi
[ $status = 0 ] && echo "--- ok"
exit $status
