#!/usr/bin/env bash
# Two scripts/gate runs at once on one GATE_WORK must each compare the builds they were asked
# for, and write separate documents. The builds are of a throw-away repository whose "udbench"
# is a wrapper: it logs which commit it was built from and which run called it, then executes
# the real udbench. Run A stops at its first `gate-worker --protocol` (before any trial) until run
# B (another base, the same head) has finished building, linking and trying; then A's trials
# must still execute A's base, and both documents must name their own base commit. Then two
# runs C and D ask for the same slow new build at once: it must be made once, under the lock.
# Usage: test_gate_shared.sh UDBENCH SOURCE_DIR
set -uo pipefail
ud=$(readlink -f "$1") src=$2
tmp=$(mktemp -d)
a_pid=""
cleanup() {
  [ -n "$a_pid" ] && kill "$a_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

repo=$tmp/repo
mkdir -p "$repo/scripts" "$repo/build/bin"
cp "$src/scripts/gate" "$repo/scripts/gate"
ln -s "$ud" "$repo/build/bin/udbench" # the driver: the real udbench
echo "build/" >"$repo/.gitignore"
cat >"$repo/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.19)
project(fake NONE)
file(STRINGS ${CMAKE_SOURCE_DIR}/mark MARK)
file(APPEND $ENV{GATE_TEST_LOG} "configure ${MARK}\n")
if(MARK STREQUAL "four") # a slow build: a second run asking for it meanwhile must wait
  execute_process(COMMAND sleep 2)
endif()
configure_file(${CMAKE_SOURCE_DIR}/udbench.in ${CMAKE_BINARY_DIR}/bin/udbench @ONLY
               FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
add_custom_target(udbench)
EOF
cat >"$repo/udbench.in" <<'EOF'
#!/bin/sh
echo "${GATE_TEST_TAG:-?} @MARK@ $*" >>"$GATE_TEST_LOG"
if [ "$1 $2" = "gate-worker --protocol" ] && [ -n "${GATE_TEST_HOLD:-}" ]; then
  i=0
  while [ ! -e "$GATE_TEST_HOLD" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
fi
exec "$GATE_TEST_UDBENCH" "$@"
EOF
git -C "$repo" init -q
git -C "$repo" config user.email test@example.invalid
git -C "$repo" config user.name test
for m in one two three four; do
  echo "$m" >"$repo/mark"
  git -C "$repo" add -A
  git -C "$repo" commit -q -m "$m"
  git -C "$repo" tag "$m"
done

export GATE_WORK=$tmp/work GATE_TEST_LOG=$tmp/calls.log GATE_TEST_UDBENCH=$ud
unset GATE_OUT GATE_BASE_BIN GATE_HEAD_BIN GATE_CMAKE_ARGS GATE_BASE_CMAKE_ARGS GATE_HEAD_CMAKE_ARGS
opts=(-- --suite smoke --pairs 3 --looks 1 --rounds 5 --seed 1)
GATE_TEST_TAG=A GATE_TEST_HOLD=$tmp/go bash "$repo/scripts/gate" one two "${opts[@]}" \
  >"$tmp/a.out" 2>"$tmp/a.err" &
a_pid=$!
for _ in $(seq 1 1200); do
  grep -q '^A .* gate-worker --protocol' "$tmp/calls.log" 2>/dev/null && break
  kill -0 "$a_pid" 2>/dev/null || break
  sleep 0.1
done
grep -q '^A .* gate-worker --protocol' "$tmp/calls.log" 2>/dev/null || fail "run A never reached its trials"
GATE_TEST_TAG=B bash "$repo/scripts/gate" three two "${opts[@]}" >"$tmp/b.out" 2>"$tmp/b.err"
b_status=$?
touch "$tmp/go"
wait "$a_pid"
a_status=$?
a_pid=""

# shellcheck disable=SC2086 # each item is two words on purpose
for run in "a $a_status" "b $b_status"; do
  set -- $run # two words: the run and its status
  case $2 in
    0 | 3) ;;
    *) fail "run $1: exit $2" ;;
  esac
done

# check_run TAG WANT-MARKS: the trials of run TAG executed exactly the builds of those marks.
check_run() {
  local got
  got=$(grep "^$1 " "$tmp/calls.log" | grep ' gate-worker .*--suite' | awk '{print $2}' | sort -u |
    tr '\n' ' ')
  [ "$got" = "$2 " ] || fail "run $1 executed the builds '$got', not '$2'"
}
check_run A "one two"
check_run B "three two"

# Each run's document is its own, and names its own base.
doc_a=$(sed -n 's/.*; document //p' "$tmp/a.err")
doc_b=$(sed -n 's/.*; document //p' "$tmp/b.err")
if [ -z "$doc_a" ] || [ "$doc_a" = "$doc_b" ]; then fail "both runs wrote '$doc_a'"; fi
want_a=$(git -C "$repo" rev-parse one | cut -c1-12)
want_b=$(git -C "$repo" rev-parse three | cut -c1-12)
[ "$(jq -r .base.commit "$doc_a" 2>/dev/null)" = "$want_a" ] || fail "run A's document: base is not $want_a"
[ "$(jq -r .base.commit "$doc_b" 2>/dev/null)" = "$want_b" ] || fail "run B's document: base is not $want_b"

# The cache is shared: the head (two) was built once for both runs.
builds=$(find "$GATE_WORK/builds" -mindepth 1 -maxdepth 1 | wc -l)
[ "$builds" = 3 ] || fail "expected 3 cached builds (one, two, three), found $builds"

# Two runs that need the same new build at once: it is made once, and both use it.
GATE_TEST_TAG=C bash "$repo/scripts/gate" four two "${opts[@]}" >"$tmp/c.out" 2>"$tmp/c.err" &
c_pid=$!
GATE_TEST_TAG=D bash "$repo/scripts/gate" four two "${opts[@]}" >"$tmp/d.out" 2>"$tmp/d.err"
d_status=$?
wait "$c_pid"
c_status=$?
case "$c_status $d_status" in
  [03]" "[03]) ;;
  *) fail "runs C and D at once: exit $c_status and $d_status" ;;
esac
configured=$(grep -c '^configure four' "$tmp/calls.log")
[ "$configured" = 1 ] || fail "the build of 'four' was configured $configured times, not once"
check_run C "four two"
check_run D "four two"

if [ "$failures" -gt 0 ]; then
  echo "--- calls"; cat "$tmp/calls.log"
  echo "--- run A"; cat "$tmp/a.err"
  for run in b c d; do echo "--- run $run"; cat "$tmp/$run.err"; done
  exit 1
fi
echo "two gate runs on one GATE_WORK: each ran its own builds and wrote its own document"
