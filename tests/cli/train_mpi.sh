#!/usr/bin/env bash
# Data-parallel training under mpirun (docs/distributed.md), one scenario
# per call:
#   train_mpi.sh CHAINJIT PARAMS_CLOSE MPIRUN WORKDIR DATA SCENARIO [ARGS]
#   equal NP MODEL TRAIN_FLAGS...  -np NP gives the params and metrics of
#                                  the single-process run (f32 rounding)
#   resume NP1 NP2 MODEL FLAGS...  1 epoch on NP1 ranks, resumed on NP2 ranks
#                                  to 2: the uninterrupted run's params
#   cv NP MODEL FLAGS...           --kfold pairs dealt to NP ranks: the same
#                                  table and best setting as one process
#   show NP MODEL FLAGS... -- RE...  the run's stdout has every line RE
#                                  (docs/distributed.md's example)
#   fail NP RANK:STEP MODEL        that rank fails: non-zero exit, its error
#                                  shown, no checkpoint (nor .tmp) left
#   idx NP MODEL FLAGS...          DATA as uncompressed IDX files: -np NP
#                                  reads rows on demand, rank 0 about 1/NP
#                                  of them, under an --alloc-limit below the
#                                  whole features, and equals one process
#   npy NP MODEL FLAGS...          DATA as uncompressed .npy inputs (%x
#                                  f32[N, 64], %labels i32[N]): -np NP
#                                  reads the rows of x.npy on demand, rank 0
#                                  about 1/NP of them, under an --alloc-limit
#                                  below the whole x, and equals one process
#   overlap NP MODEL FLAGS...      the reduction in small overlapped buckets
#                                  and in one blocking message: the same bits
#                                  at 2 ranks (f32 rounding at more), and the
#                                  single-process run's params and metrics
# Exit 77 (skipped) when there is no mpirun or chainjit lacks MPI.
set -u
cli=$1 close=$2 mpirun=$3 work=$4 data=$5 scenario=$6
shift 6
if [ ! -x "$mpirun" ] && ! command -v "$mpirun" >/dev/null; then
  echo "SKIP: chainjit was built without MPI, or there is no mpirun (install libopenmpi-dev and openmpi-bin: tools/bootstrap.sh, and configure again)"
  exit 77
fi
rm -rf "$work"
mkdir -p "$work"
mpi=("$mpirun" --oversubscribe --allow-run-as-root)
# Waiting ranks yield the CPU: the 2-core CI machine runs 3 ranks.
export OMPI_MCA_mpi_yield_when_idle=1
# Open MPI's own allocations outlive MPI_Finalize (in libmpi and in plugins it
# has unloaded, so LeakSanitizer cannot even name them): leak checking is off
# for the ranks under the sanitized build. chainjit's code in them is the
# trainer's, leak-checked by every single-process test.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
fail() { echo "FAIL: $*"; for f in "$work"/*.out "$work"/*.err; do echo "--- $f"; cat "$f"; done; exit 1; }

# The numbers of the "train loss" and "test loss" lines.
metrics() { sed -nE 's/^(train|test) loss ([^ ]+)(  accuracy ([^%]+)%)?.*/\1 \2 a\4/p' "$1"; }
same_metrics() { # FILE_A FILE_B: losses within 1e-4 relative, accuracies equal
  paste <(metrics "$1") <(metrics "$2") | awk '
    { n++; d = $2 - $5; if (d < 0) d = -d; s = $2 < 0 ? -$2 : $2
      if (d > 1e-4 * (1 + s) || $3 != $6) { print "metrics differ: " $0; bad = 1 } }
    END { if (n < 2) { print "no metrics"; bad = 1 } exit bad }'
}

train() { # OUTNAME CMD...: runs, output in $work/OUTNAME.out/.err
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err"
}

rows_on_demand() { # WHAT LIMIT_ERROR ROW_BYTES [TRAIN ARGS...], data flags in $data_args
  # The data whole needs more than 400 KiB (the f32 features of the 1797
  # digits take 449 KiB); any rank's batch, graph or labels need less. One
  # process loading it all must fail under that limit, the ranks reading
  # their rows must pass and match one process, and rank 0 must have read
  # about 1/np of what one process reads: every training row each epoch and
  # the test rows after each epoch and once more at the end.
  local what=$1 limit_error=$2 row_bytes=$3
  shift 3
  train whole "$cli" train "$model" "${data_args[@]}" --alloc-limit 400K "$@"
  grep -q "$limit_error" "$work/whole.err" ||
    fail "a single process loading the whole features did not pass the limit"
  train one "$cli" train "$model" "${data_args[@]}" --checkpoint "$work/one.ckpt" "$@" ||
    fail "single-process run failed"
  train many "${mpi[@]}" -np "$np" "$cli" train "$model" "${data_args[@]}" --alloc-limit 400K \
    --checkpoint "$work/many.ckpt" --check-replicas "$@" || fail "-np $np run failed"
  "$close" "$work/one.ckpt" "$work/many.ckpt" >"$work/close.out" || fail "params differ"
  same_metrics "$work/one.out" "$work/many.out" >"$work/metrics.out" || fail "metrics differ"
  awk -v np="$np" -v row="$row_bytes" '
    /^data: / { train = $2; test = $4 }
    /^training time / { epochs = $(NF - 1) }
    /^rows read on demand: / { read = $8 }
    END { whole = row * (epochs * train + (epochs + 1) * test)
          if (!read || !whole) { print "no bytes-read line"; exit 1 }
          r = read / whole; printf "rank 0 read %d of %d bytes: %.4f\n", read, whole, r
          d = r - 1 / np; if (d < 0) d = -d; exit d > 0.02 }' "$work/many.out" >"$work/ratio.out" ||
    fail "rank 0 did not read about 1/$np of the rows: $(cat "$work/ratio.out")"
  echo "ok: -np $np read $what rows on demand ($(cat "$work/ratio.out")) and matches one process"
}

case $scenario in
equal)
  np=$1 model=$2
  shift 2
  train one "$cli" train "$model" --data "$data" --scale 0.0625 --checkpoint "$work/one.ckpt" "$@" ||
    fail "single-process run failed"
  train many "${mpi[@]}" -np "$np" "$cli" train "$model" --data "$data" --scale 0.0625 \
    --checkpoint "$work/many.ckpt" --check-replicas "$@" || fail "-np $np run failed"
  grep -q "^data-parallel: MPI, $np ranks" "$work/many.out" || fail "no data-parallel note"
  [ "$(grep -c '^train loss' "$work/many.out")" -eq 1 ] || fail "more than one rank printed the report"
  "$cli" params export "$work/many.ckpt" -o "$work/many.npz" >/dev/null || fail "export failed"
  "$close" "$work/one.ckpt" "$work/many.npz" >"$work/close.out" || fail "params differ"
  same_metrics "$work/one.out" "$work/many.out" >"$work/metrics.out" || fail "metrics differ"
  echo "ok: -np $np matches the single-process run"
  ;;
resume)
  np1=$1 np2=$2 model=$3
  shift 3
  train whole "$cli" train "$model" --data "$data" --scale 0.0625 --epochs 2 \
    --checkpoint "$work/whole.ckpt" "$@" || fail "uninterrupted run failed"
  train first "${mpi[@]}" -np "$np1" "$cli" train "$model" --data "$data" --scale 0.0625 \
    --epochs 1 --checkpoint "$work/run.ckpt" "$@" || fail "-np $np1 first epoch failed"
  train second "${mpi[@]}" -np "$np2" "$cli" train "$model" --data "$data" --scale 0.0625 \
    --epochs 2 --checkpoint "$work/run.ckpt" --resume "$@" || fail "-np $np2 resume failed"
  grep -q "resumed" "$work/second.err" "$work/second.out" || fail "no 'resumed' note"
  "$close" "$work/whole.ckpt" "$work/run.ckpt" >"$work/close.out" || fail "params differ"
  same_metrics "$work/whole.out" "$work/second.out" >"$work/metrics.out" || fail "metrics differ"
  echo "ok: 1 epoch on $np1 ranks, resumed on $np2, matches the uninterrupted run"
  ;;
cv)
  np=$1 model=$2
  shift 2
  train one "$cli" train "$model" --data "$data" --scale 0.0625 "$@" || fail "single-process run failed"
  train many "${mpi[@]}" -np "$np" "$cli" train "$model" --data "$data" --scale 0.0625 "$@" ||
    fail "-np $np run failed"
  table() { grep -E '^(\*| ) +[0-9.e-]+ +[0-9.e-]+ +[0-9.e-]+ |^best: ' "$1"; }
  [ "$(table "$work/one.out" | wc -l)" -ge 3 ] || fail "no table"
  diff <(table "$work/one.out") <(table "$work/many.out") >"$work/table.diff" ||
    fail "the tables differ"
  echo "ok: the -np $np cross-validation table is the single-process one"
  ;;
show)
  np=$1 model=$2
  shift 2
  args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do args+=("$1"); shift; done
  shift
  (cd "$work" && "${mpi[@]}" -np "$np" "$cli" train "$model" --data "$data" "${args[@]}" \
    >"$work/show.out" 2>"$work/show.err") || fail "the run failed"
  for re in "$@"; do
    grep -Eq "$re" "$work/show.out" || fail "no line '$re'"
  done
  echo "ok: the documented output"
  ;;
fail)
  np=$1 at=$2 model=$3
  rank=${at%%:*}
  CHAINJIT_DEBUG_FAIL=$at train failed "${mpi[@]}" -x CHAINJIT_DEBUG_FAIL -np "$np" "$cli" train \
    "$model" --data "$data" --scale 0.0625 --epochs 3 --checkpoint "$work/f.ckpt"
  rc=$?
  [ "$rc" -ne 0 ] || fail "the job exited 0"
  grep -q "^chainjit: error: rank $rank: injected failure at step" "$work/failed.err" ||
    fail "the failing rank's error is not shown"
  [ ! -e "$work/f.ckpt" ] || fail "a checkpoint was left"
  [ ! -e "$work/f.ckpt.tmp" ] || fail "a partial checkpoint (.tmp) was left"
  echo "ok: rank $rank failed, the job exited $rc with its error and no checkpoint"
  ;;
idx)
  np=$1 model=$2
  shift 2
  # The digits as IDX (pixels 0..16 are bytes), with Python's standard library.
  python3 - "$data" "$work/images.idx" "$work/labels.idx" <<'PY' || fail "cannot write IDX files"
import gzip, struct, sys
rows = [l.strip().split(',') for l in gzip.open(sys.argv[1], 'rt')
        if l.strip() and not l.startswith('#')]
if not rows[0][0].replace('.', '').isdigit():
    rows = rows[1:]
with open(sys.argv[2], 'wb') as f:
    f.write(struct.pack('>IIII', 0x803, len(rows), 8, 8))
    f.write(bytes(int(float(v)) for r in rows for v in r[:-1]))
with open(sys.argv[3], 'wb') as f:
    f.write(struct.pack('>II', 0x801, len(rows)))
    f.write(bytes(int(float(r[-1])) for r in rows))
PY
  data_args=(--idx-images "$work/images.idx" --idx-labels "$work/labels.idx" --scale 0.0625)
  rows_on_demand IDX "the features (f32\[1797, 64\]) needs 449.2 KiB" 64 "$@"
  ;;
npy)
  np=$1 model=$2
  shift 2
  # The digits as .npy inputs (pixels / 16 as f32, labels as i32), with
  # Python's standard library (no NumPy needed).
  python3 - "$data" "$work/x.npy" "$work/labels.npy" <<'PY' || fail "cannot write .npy files"
import gzip, struct, sys
rows = [l.strip().split(',') for l in gzip.open(sys.argv[1], 'rt')
        if l.strip() and not l.startswith('#')]
if not rows[0][0].replace('.', '').isdigit():
    rows = rows[1:]
def npy(path, descr, shape, data):
    head = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    head += ' ' * (63 - (10 + len(head)) % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(head)) + head.encode() + data)
x = struct.pack('<%df' % (64 * len(rows)), *(float(v) / 16 for r in rows for v in r[:-1]))
npy(sys.argv[2], '<f4', '(%d, 64)' % len(rows), x)
npy(sys.argv[3], '<i4', '(%d,)' % len(rows),
    struct.pack('<%di' % len(rows), *(int(float(r[-1])) for r in rows)))
PY
  data_args=(--data "x=$work/x.npy,labels=$work/labels.npy")
  rows_on_demand .npy "x.npy: error: reading the file needs 449.4 KiB" 256 "$@"
  ;;
overlap)
  np=$1 model=$2
  shift 2
  CHAINJIT_DEBUG_ALLREDUCE=256:overlap train small "${mpi[@]}" -x CHAINJIT_DEBUG_ALLREDUCE \
    -np "$np" "$cli" train "$model" --data "$data" --scale 0.0625 --checkpoint "$work/small.ckpt" \
    "$@" || fail "overlapped run failed"
  CHAINJIT_DEBUG_ALLREDUCE=1e12:blocking train blocking "${mpi[@]}" -x CHAINJIT_DEBUG_ALLREDUCE \
    -np "$np" "$cli" train "$model" --data "$data" --scale 0.0625 \
    --checkpoint "$work/blocking.ckpt" "$@" || fail "blocking run failed"
  train one "$cli" train "$model" --data "$data" --scale 0.0625 --checkpoint "$work/one.ckpt" "$@" ||
    fail "single-process run failed"
  # 2 ranks: one addition per element, whatever the messages: the same bits.
  # More: MPI may add in another order for another message size (rounding).
  rtol=()
  [ "$np" -eq 2 ] && rtol=(--rtol 0)
  "$close" "$work/small.ckpt" "$work/blocking.ckpt" "${rtol[@]}" >"$work/close.out" ||
    fail "overlapped and blocking params differ"
  "$close" "$work/one.ckpt" "$work/small.ckpt" >"$work/close_one.out" ||
    fail "overlapped and single-process params differ"
  same_metrics "$work/one.out" "$work/small.out" >"$work/metrics.out" || fail "metrics differ"
  echo "ok: -np $np, overlapped 256-byte buckets equal one blocking message${rtol:+ bit for bit} and one process"
  ;;
*)
  echo "unknown scenario $scenario"
  exit 2
  ;;
esac
