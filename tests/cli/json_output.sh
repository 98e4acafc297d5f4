#!/usr/bin/env bash
# Runs a command that prints JSON, and checks that it exits 0 and that its
# stdout parses and holds the given values (json_check.cpp).
#   json_output.sh JSON_CHECK [POINTER=VALUE]... -- COMMAND [ARG]...
set -u
checker=$1
shift
checks=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  checks+=("$1")
  shift
done
shift # --
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$@" >"$tmp/out" 2>"$tmp/err"
rc=$?
echo "--- command: $*"
echo "--- stderr:"; cat "$tmp/err"
if [ "$rc" != 0 ]; then
  echo "--- stdout:"; cat "$tmp/out"
  echo "FAIL: exit code $rc, expected 0"
  exit 1
fi
"$checker" "${checks[@]}" <"$tmp/out"
