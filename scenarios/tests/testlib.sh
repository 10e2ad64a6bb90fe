#!/usr/bin/env bash
# testlib.sh - what the shell tests of scenarios/ share; source it after `set -u`:
#   . "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
# It makes a scratch folder $tmp (removed on exit), counts results in $pass and $fail, and
# gives ok/not_ok/check/expect_exit to report them one line each ("ok - ...", "FAIL - ..."),
# and finish to print the totals and exit non-zero when anything failed.
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "FAIL - $1"; }
# check DESC CMD...: the command succeeds.
check() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# expect_exit CODE DESC CMD...: the command exits with CODE and says something on stderr
# (its output in $tmp/out and $tmp/err).
expect_exit() {
  local want=$1 desc=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -eq "$want" ] && [ -s "$tmp/err" ]; then
    ok "$desc (exit $got: $(head -c 120 "$tmp/err" | head -1))"
  else
    not_ok "$desc: exit $got, expected $want; stderr: $(head -c 300 "$tmp/err")"
  fi
}
# finish: prints "# N passed, N failed" and exits 0 only when nothing failed.
finish() {
  echo "# $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}
