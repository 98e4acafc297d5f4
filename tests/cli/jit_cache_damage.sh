#!/usr/bin/env bash
# `chainjit run --backend jit` over a damaged compile cache: the cache
# directory is created 0700; an entry with three flipped bytes, then one cut
# short inside its header, is deleted with a warning and the graph compiled
# again, giving the right values (never executing the garbage).
#   jit_cache_damage.sh EXPECT_SH CHAINJIT CACHE_DIR   (run in tests/cli/data)
set -u
expect=$1 cli=$2 dir=$3
rm -rf "$dir"
run=("$cli" run affine.cj --backend jit --cache-dir "$dir" --input x=x.csv --input b=b.npy)
values=("--stdout" "^%s : f32\\[2\\] = \\[66, 75\\]$")
fail() { echo "FAIL: $*"; exit 1; }

bash "$expect" 0 --empty-stderr "${values[@]}" -- "${run[@]}" || exit 1
[ "$(stat -c %a "$dir")" = 700 ] || fail "cache directory mode $(stat -c %a "$dir"), expected 700"
entries=("$dir"/*)
[ ${#entries[@]} = 1 ] && [ -f "${entries[0]}" ] || fail "expected one cache entry: ${entries[*]}"
entry=${entries[0]}

size=$(stat -c %s "$entry")
for at in $((size / 2)) $((size / 2 + 7)) $((size / 2 + 31)); do
  printf '\x5a' | dd of="$entry" bs=1 seek="$at" conv=notrunc status=none
done
bash "$expect" 0 "${values[@]}" \
  --stderr "^chainjit: warning: graph 'affine': the compile cache entry .* is damaged \\(checksum mismatch\\); it was deleted and the graph is compiled again$" \
  -- "${run[@]}" || exit 1

truncate -s 20 "$entry"
bash "$expect" 0 "${values[@]}" --stderr "^chainjit: warning: .* is damaged \\(truncated: 20 bytes" \
  -- "${run[@]}" || exit 1
# Rewritten whole: the next run hits the cache and says nothing.
bash "$expect" 0 --empty-stderr "${values[@]}" -- "${run[@]}" || exit 1
rm -rf "$dir"
