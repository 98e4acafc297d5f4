#!/usr/bin/env bash
# Ahead-of-time bundles (docs/deploy.md): train the digits MLP briefly,
# compile it with the weights into a bundle, link examples/aot/classify_digits.c
# with the bundle, OpenBLAS and libm alone, and compare what it prints with
# `chainjit predict` (the JIT) on the same weights and data: the same classes
# and probabilities to 1e-5. The bundle needs nothing but libc, libm and
# OpenBLAS (nm -u); a bundle for a generic CPU gives the same results; one
# for a CPU feature this machine lacks refuses to run, naming it; run-time
# errors come back as status codes and messages (aot_errors.c, aot_index.c); a bundle
# without --params takes them as arguments (aot_params.c); bad inputs to
# `compile` get clear errors.
#   aot_bundle.sh CHAINJIT WORKDIR EXAMPLES TESTDIR CC NM
set -u
cli=$1 work=$2 examples=$3 tests=$4 cc=$5 nm=$6
model=$examples/digits_mlp.cj data=$examples/data/digits.csv.gz
rm -rf "$work"
mkdir -p "$work"
cd "$work" || exit 1
fail() { echo "FAIL: $*"; for f in out err; do [ -f $f ] && { echo "--- $f:"; cat $f; }; done; exit 1; }
run() { "$cli" "$@" >out 2>err || fail "exit code $? from: chainjit $*"; }
fails() { # EXPECTED-STDERR-REGEX chainjit args...: exit code 1 and the message
  local re=$1
  shift
  "$cli" "$@" >out 2>err && fail "succeeded: chainjit $*"
  grep -Eq "$re" err || fail "no '$re' from: chainjit $*"
}
# Every value within 1e-5 (absolute, or relative to the larger), the same
# header and classes; files of CSV rows.
same_predictions() {
  [ "$(wc -l <"$1")" -eq "$(wc -l <"$2")" ] || fail "$1 and $2: different row counts"
  paste -d'|' "$1" "$2" | awk -F'|' '
    NR == 1 { if ($1 != $2) { print "header: " $1 " vs " $2; bad = 1 }; next }
    { n = split($1, a, ","); m = split($2, b, ",")
      if (n != m || a[1] != b[1]) { print "row " NR - 1 ": " $1 " vs " $2; bad = 1; next }
      for (i = 2; i <= n; ++i) {
        d = a[i] - b[i]; if (d < 0) d = -d
        s = a[i] < 0 ? -a[i] : a[i]; t = b[i] < 0 ? -b[i] : b[i]; if (t > s) s = t
        if (d > 1e-5 && d > 1e-5 * s) { print "row " NR - 1 " column " i ": " a[i] " vs " b[i]; bad = 1 }
      } }
    END { exit bad }' >diff.txt || { cat diff.txt | head; fail "$1 and $2 differ"; }
}

run train "$model" --data "$data" --scale 0.0625 --epochs 3 --checkpoint digits.ckpt
run params export digits.ckpt -o digits.npz
# The commands of docs/deploy.md.
run compile "$model" --aot -o bundle --params digits.npz --outputs predicted,logits
grep -Eq "^bundle digits_mlp for CPU [a-z0-9_.-]+ \(4 params embedded, workspace [0-9]+ bytes\) -> bundle: digits_mlp\.h libdigits_mlp\.a$" out ||
  fail "compile: no summary line"
[ -f bundle/digits_mlp.h ] && [ -f bundle/libdigits_mlp.a ] || fail "bundle files"
for re in "^#define DIGITS_MLP_ABI_VERSION 1$" "^#define DIGITS_MLP_X_SHAPE \{32, 64\}$" \
  "^#define DIGITS_MLP_DATA_SCALE 0\.0625$" "^#define DIGITS_MLP_WORKSPACE_BYTES [0-9]+$" \
  "^int32_t digits_mlp_run\(const float \*x, int32_t \*predicted, float \*logits, void \*workspace, char \*err, size_t err_size\);$" \
  "^int32_t digits_mlp_check\(char \*err, size_t err_size\);$"; do
  grep -Eq "$re" bundle/digits_mlp.h || fail "digits_mlp.h lacks $re"
done
# The program links with the C compiler, OpenBLAS and libm alone (no C++
# runtime, no chainjit library); of the archive's members it takes its own
# object and the kernel objects its code calls (the link map lists them), and
# those leave only libc, libm and OpenBLAS (BLAS and LAPACK) undefined.
"$cc" -O2 -Wall -I bundle "$examples/aot/classify_digits.c" bundle/libdigits_mlp.a \
  -lopenblas -lm -o classify_digits -Wl,-Map=link.map >out 2>err || fail "cc: classify_digits"
members=$(sed -n 's|^bundle/libdigits_mlp\.a(\(.*\))$|\1|p' link.map | sort -u)
grep -qx digits_mlp.o <<<"$members" || { head -30 link.map; fail "link map: no digits_mlp.o"; }
grep -qx chainjit_bundleruntime.o <<<"$members" || fail "the bundle runtime was not linked"
grep -qx chainjit_linalg.o <<<"$members" || fail "the matmul kernel was not linked"
! grep -qx chainjit_conv.o <<<"$members" || fail "conv kernels linked into an MLP's program"
mkdir members
(cd members && ar x ../bundle/libdigits_mlp.a $members) || fail "ar x"
"$nm" --defined-only members/*.o | awk 'NF == 3 { print $3 }' | sort -u >defined.txt
"$nm" -u members/*.o | awk 'NF == 2 && $1 == "U" { print $2 }' | sort -u | comm -23 - defined.txt >undefined.txt
[ -s undefined.txt ] || fail "no undefined symbols at all?"
# Weak references are null in a program without their library: only
# OpenBLAS's thread count (Blas.h) and glibc's vector math (libmvec's e^x,
# used where the program links -lmvec, VectorExp.h).
"$nm" -u members/*.o | awk 'NF == 2 && $1 != "U" { print $2 }' | sort -u >weak.txt
grep -Ev '^(_ZGV[bcde]N[0-9]+v_expf|openblas_[gs]et_num_threads)$' weak.txt >foreign.txt && { cat foreign.txt; fail "weak references beyond libmvec"; }
grep -q '^_ZGVeN16v_expf$' weak.txt || fail "the softmax kernels do not refer to libmvec (weakly)?"
# libc's threads (a pool: mutex, condition variables, atfork), the CPU
# affinity, clock, getenv and malloc: kernels and generated loops that split
# their items over threads when that pays (compiler/src/jit/kernels/ParallelItems.h);
# stdio's fopen, fgets and fclose: the rank-k kernel reads the last-level
# cache's size from sysfs (RankKGemm.h).
allowed='^(cblas_[a-z]+|openblas_[gs]et_num_threads|[sd][a-z]+_|(exp|log|log1p|expm1|tanh|pow|sqrt|fmod|floor|ceil|fabs|fmax|fmin|sin|cos|erf)f?|mem(cpy|move|set)|posix_memalign|free|snprintf|str(chr|len|ncmp|cmp)|pthread_(create|join|once|detach|atfork|mutex_(init|lock|unlock)|cond_(init|wait|signal|broadcast))|sched_getaffinity|__sched_cpucount|clock_gettime|sysconf|getenv|malloc|f(open|gets|close)|__tls_get_addr)$'
grep -Ev "$allowed" undefined.txt >foreign.txt && { cat foreign.txt; fail "the bundle needs more than libc, libm and OpenBLAS"; }
grep -q '^cblas_sgemm$' undefined.txt || fail "the kernels do not call OpenBLAS?"

# The excerpt of the program in docs/deploy.md: every line but "..." is one
# of the program's.
docs=$examples/../docs/deploy.md
awk '/^### A C program/ { found = 1 } found && /^```c$/ { inside = 1; next }
     inside && /^```$/ { exit } inside' "$docs" >excerpt.c
[ "$(grep -c . excerpt.c)" -gt 10 ] || fail "no C excerpt in docs/deploy.md"
sed 's/^ *//' "$examples/aot/classify_digits.c" >program.txt
sed 's/^ *//' excerpt.c | grep -v '^\.\.\.$' | while IFS= read -r line; do
  [ -z "$line" ] || grep -qxF -- "$line" program.txt || echo "$line"
done >not_in_program.txt
[ ! -s not_in_program.txt ] || { cat not_in_program.txt; fail "docs/deploy.md's excerpt differs from classify_digits.c"; }

zcat "$data" >digits.csv
./classify_digits digits.csv >from_bundle.csv 2>err || fail "classify_digits: exit code $?"
run predict "$model" --params digits.npz --data digits.csv -o from_jit.csv
[ "$(wc -l <from_bundle.csv)" -eq 1798 ] || fail "classify_digits: not 1797 rows"
same_predictions from_bundle.csv from_jit.csv
# With glibc's vector math linked, softmax's e^x runs on its vectors: the
# same classes.
"$cc" -O2 -I bundle "$examples/aot/classify_digits.c" bundle/libdigits_mlp.a \
  -lopenblas -lmvec -lm -o classify_mvec >out 2>err || fail "cc: classify_digits -lmvec"
./classify_mvec digits.csv >from_mvec.csv 2>err || fail "classify_mvec: exit code $?"
same_predictions from_mvec.csv from_jit.csv
# Another batch size (1797 = 224 * 8 + 5: a last, padded batch) and a
# generic CPU give the same.
run compile "$model" --aot -o generic --params digits.ckpt --outputs predicted,logits \
  --batch 8 --target-cpu x86-64-v2
grep -q "^bundle digits_mlp for CPU x86-64-v2 " out || fail "generic: summary"
grep -q '^#define DIGITS_MLP_X_SHAPE {8, 64}$' generic/digits_mlp.h || fail "generic: batch 8"
"$cc" -O2 -I generic "$examples/aot/classify_digits.c" generic/libdigits_mlp.a -lopenblas -lm \
  -o classify_generic >out 2>err || fail "cc: classify_generic"
./classify_generic digits.csv >from_generic.csv 2>err || fail "classify_generic: exit code $?"
same_predictions from_generic.csv from_jit.csv

# Weights trained on standardized features: the header carries the
# statistics, which the program applies as predict does.
run train "$model" --data "$data" --standardize --epochs 2 --checkpoint std.ckpt
run compile "$model" --aot -o standardized --params std.ckpt --outputs predicted,logits
grep -q '^#define DIGITS_MLP_DATA_FEATURES 64$' standardized/digits_mlp.h || fail "std: features"
grep -Eq '^#define DIGITS_MLP_DATA_MEAN \{0, 0\.[0-9]+, ' standardized/digits_mlp.h || fail "std: mean"
grep -Eq '^#define DIGITS_MLP_DATA_STD \{1, 0\.[0-9]+, ' standardized/digits_mlp.h || fail "std: std"
"$cc" -O2 -I standardized "$examples/aot/classify_digits.c" standardized/libdigits_mlp.a \
  -lopenblas -lm -o classify_standardized >out 2>err || fail "cc: classify_standardized"
./classify_standardized digits.csv >from_standardized.csv 2>err || fail "classify_standardized: exit code $?"
run predict "$model" --params std.ckpt --data digits.csv -o from_jit_std.csv
same_predictions from_standardized.csv from_jit_std.csv

# A bundle for a CPU feature this machine lacks refuses to run, naming it.
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
foreign= missing=
if [ "$(uname -m)" = x86_64 ] && [ -n "$flags" ]; then
  if ! grep -qw avx512f <<<"$flags"; then foreign=x86-64-v4 missing=avx512f
  elif ! grep -qw avx_ifma <<<"$flags"; then foreign=sierraforest missing=avxifma
  fi
fi
if [ -n "$foreign" ]; then
  run compile "$model" --aot -o foreign --params digits.npz --outputs predicted,logits \
    --target-cpu "$foreign"
  "$cc" -O2 -I foreign "$examples/aot/classify_digits.c" foreign/libdigits_mlp.a -lopenblas -lm \
    -o classify_foreign >out 2>err || fail "cc: classify_foreign"
  ./classify_foreign digits.csv >out 2>err && fail "a bundle for $foreign ran here"
  grep -Eq "^classify_digits: bundle 'digits_mlp' was compiled for CPU '$foreign', and this CPU lacks ([a-z0-9.-]+, )*$missing" err ||
    fail "no message naming $missing"
else
  echo "note: this CPU has every feature tried; the foreign-CPU check is skipped"
fi

# Run-time errors: a status and a message, never an abort.
run compile "$model" --aot -o loss --params digits.npz --outputs loss --name digits_loss --batch 4
"$cc" -O2 -I loss "$tests/aot_errors.c" loss/libdigits_loss.a -lopenblas -lm -o aot_errors \
  >out 2>err || fail "cc: aot_errors"
./aot_errors >errors.txt 2>err || fail "aot_errors: exit code $?"
cat >expected.txt <<'END'
good labels: 0 
own workspace: 0 
label 12: 3 bundle 'digits_loss': %loss: cross_entropy: a label is out of range [0, classes)
no labels: 18 bundle 'digits_loss': the buffer of input labels is NULL
misaligned workspace: 18 bundle 'digits_loss': the workspace is not aligned to 64 bytes
short message buffer: 3 'bundle 'dig'
END
diff expected.txt errors.txt >out || fail "aot_errors printed otherwise"
run compile "$tests/data/embedding_lookup.cj" --aot -o lookup
"$cc" -O2 -I lookup "$tests/aot_index.c" lookup/libembedding_lookup.a -lopenblas -lm \
  -o aot_index >out 2>err || fail "cc: aot_index"
./aot_index >index.txt 2>err || fail "aot_index: exit code $?"
cat >expected.txt <<'END'
4 bundle 'embedding_lookup': %emb: gather: an index is out of range: index 12 at element 7 of the indices
0 1 9
END
diff expected.txt index.txt >out || fail "aot_index printed otherwise"

# Without --params the params are arguments, after the inputs.
run compile "$tests/data/affine.cj" --aot -o affine
grep -q "^bundle affine for CPU .* (params as arguments, " out || fail "affine: summary"
grep -q '^int32_t affine_run(const float \*x, const float \*b, const float \*w, float \*y, float \*s, void \*workspace, char \*err, size_t err_size);$' \
  affine/affine.h || fail "affine_run's signature"
"$cc" -O2 -I affine "$tests/aot_params.c" affine/libaffine.a -lopenblas -lm -o aot_params \
  >out 2>err || fail "cc: aot_params"
./aot_params >params.txt 2>err || fail "aot_params: exit code $?"
printf '1.5 20 299 4.5 50 599\n320.5 653.5\n' | diff - params.txt >out || fail "aot_params printed otherwise"

# Bad inputs to compile.
cp "$tests/data/digits_partial.npz" "$tests/data/affine.cj" "$tests/data/affine_w_shape.npz" .
fails "^digits_partial\.npz: error: lacks 2 param\(s\) of graph 'digits_mlp': %W2 : f32\[128, 10\], %b2 : f32\[10\]$" \
  compile "$model" --aot -o never --params digits_partial.npz --outputs predicted
fails "^affine_w_shape\.npz: error: param %w is f32\[4\] here, but graph 'affine' declares f32\[3\]$" \
  compile affine.cj --aot -o never --params affine_w_shape.npz
fails "^chainjit: error: model 'digits_mlp' has no value %predicted_ " \
  compile "$model" --aot -o never --outputs predicted_
fails "^chainjit: error: --target-cpu pentium9: LLVM does not know this CPU for .* \(known: .*x86-64-v2" \
  compile "$model" --aot -o never --outputs predicted --target-cpu pentium9
echo "not a directory" >file
fails "^file/bundle: error: cannot create the bundle directory: " \
  compile "$model" --aot -o file/bundle --outputs predicted
[ ! -e never ] || fail "a failed compile left its directory"
"$cli" compile "$model" -o never >out 2>err && fail "compile without --aot succeeded"
grep -q "only ahead-of-time bundles exist so far: add --aot" err || fail "compile without --aot"
echo "ok"
