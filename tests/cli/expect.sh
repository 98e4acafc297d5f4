#!/usr/bin/env bash
# Runs a command and checks its exit code and output.
#   expect.sh EXIT_CODE [CHECK]... -- COMMAND [ARG]...
# CHECKs (extended regular expressions, matched line by line):
#   --match RE      some line of stdout or stderr matches
#   --no-match RE   no line of stdout or stderr matches
#   --stdout RE     some line of stdout matches
#   --stderr RE     some line of stderr matches
#   --empty-stderr  nothing was written to stderr
# The output is echoed so that `ctest --output-on-failure` shows it.
set -u
want=$1
shift
checks=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case $1 in
    --empty-stderr) checks+=("$1" ""); shift ;;
    --match|--no-match|--stdout|--stderr) checks+=("$1" "$2"); shift 2 ;;
    *) echo "expect.sh: unknown check '$1'" >&2; exit 99 ;;
  esac
done
shift # --
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$@" >"$tmp/out" 2>"$tmp/err"
rc=$?
echo "--- command: $*"
echo "--- stdout:"; cat "$tmp/out"
echo "--- stderr:"; cat "$tmp/err"
cat "$tmp/out" "$tmp/err" >"$tmp/all"
status=0
if [ "$rc" != "$want" ]; then
  echo "FAIL: exit code $rc, expected $want"
  status=1
fi
for ((i = 0; i < ${#checks[@]}; i += 2)); do
  kind=${checks[i]} re=${checks[i + 1]}
  case $kind in
    --match) grep -Eq -- "$re" "$tmp/all" || { echo "FAIL: no line matches: $re"; status=1; } ;;
    --no-match) ! grep -Eq -- "$re" "$tmp/all" || { echo "FAIL: a line matches: $re"; status=1; } ;;
    --stdout) grep -Eq -- "$re" "$tmp/out" || { echo "FAIL: no stdout line matches: $re"; status=1; } ;;
    --stderr) grep -Eq -- "$re" "$tmp/err" || { echo "FAIL: no stderr line matches: $re"; status=1; } ;;
    --empty-stderr) [ ! -s "$tmp/err" ] || { echo "FAIL: stderr is not empty"; status=1; } ;;
  esac
done
[ $status = 0 ] && echo "--- ok"
exit $status
