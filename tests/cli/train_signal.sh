#!/usr/bin/env bash
# SIGINT or SIGTERM during `chainjit train --checkpoint`: training stops
# after the current step with a final checkpoint and no .tmp file, says
# where it stopped and how to resume, exits 128 + the signal's number, and
# the checkpoint resumes.
#   train_signal.sh CHAINJIT WORKDIR INT|TERM EXPECTED_EXIT MODEL DATA
set -u
cli=$1 work=$2 sig=$3 want=$4 model=$5 data=$6
rm -rf "$work"
mkdir -p "$work"
ckpt=$work/run.ckpt
fail() { echo "FAIL: $*"; echo "--- stderr:"; cat "$work/err"; exit 1; }

"$cli" train "$model" --data "$data" --scale 0.0625 --optimizer adam --lr 0.001 \
  --epochs 1000000 --checkpoint "$ckpt" >"$work/out" 2>"$work/err" &
pid=$!
# The first epoch's checkpoint shows that training is under way.
for _ in $(seq 600); do
  [ -f "$ckpt" ] && break
  sleep 0.1
done
[ -f "$ckpt" ] || { kill -KILL $pid; fail "no checkpoint after 60 s"; }
kill -"$sig" $pid
wait $pid
rc=$?
[ "$rc" -eq "$want" ] || fail "exit code $rc, expected $want"
grep -Eq "^chainjit: training stopped by SIG$sig in epoch [0-9]+ after step [0-9]+ of [0-9]+$" \
  "$work/err" || fail "no 'training stopped' line"
grep -q "checkpoint written to $ckpt; to continue, run the same command with --resume" \
  "$work/err" || fail "no resume hint"
[ ! -e "$ckpt.tmp" ] || fail "$ckpt.tmp was left behind"

# Resuming finishes the interrupted epoch and ends normally.
epoch=$(sed -nE 's/^chainjit: training stopped by SIG[A-Z]+ in epoch ([0-9]+) .*/\1/p' "$work/err")
"$cli" train "$model" --data "$data" --scale 0.0625 --optimizer adam --lr 0.001 \
  --epochs "$epoch" --checkpoint "$ckpt" --resume >"$work/out2" 2>"$work/err2" ||
  { cat "$work/err2"; fail "resume failed"; }
grep -q "resumed" "$work/err2" "$work/out2" || { cat "$work/err2"; fail "no 'resumed' note"; }
grep -Eq "^training time .* over $epoch epochs$" "$work/out2" || { cat "$work/out2"; fail "resumed run did not finish epoch $epoch"; }
echo "ok: SIG$sig -> exit $rc, stopped in epoch $epoch, resumed"
