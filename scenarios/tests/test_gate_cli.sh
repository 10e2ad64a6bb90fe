#!/usr/bin/env bash
# udbench compare, export, history and gate end to end: exit statuses, refusals, formats, a
# change point found where the fixtures change, and a real (tiny) gate run of a build against
# itself, which must never FAIL.
# Usage: test_gate_cli.sh UDBENCH UDCOUNT SOURCE_DIR
set -uo pipefail
ud=$1 udcount=$2 src=$3
fx=$src/results/tests/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() { # DESCRIPTION EXPECTED-STATUS COMMAND...
  local what=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"; cat "$tmp/out" "$tmp/err"
    failures=$((failures + 1))
  fi
}
# gate_runs DESCRIPTION ARGS...: `udbench gate ARGS` ends with a verdict or inconclusive (exit 0
# or 3), never a failure.
gate_runs() {
  local what=$1
  shift
  "$ud" gate "$@" >"$tmp/out" 2>"$tmp/err"
  local st=$?
  if [ "$st" != 0 ] && [ "$st" != 3 ]; then
    echo "FAIL: $what: exit $st (0 or 3 expected)"; cat "$tmp/out" "$tmp/err"
    failures=$((failures + 1))
  fi
}
has() { # DESCRIPTION FILE PATTERN
  grep -q -- "$3" "$2" || { echo "FAIL: $1: no '$3' in $2"; cat "$2"; failures=$((failures + 1)); }
}

# compare: a 25% slower head fails, the same document passes, bad input is refused.
check "compare slower" 1 "$ud" compare "$fx/compare-base.json" "$fx/compare-head.json"
has "compare slower" "$tmp/out" "SLOWER .*read ultradict"
check "compare same" 0 "$ud" compare "$fx/compare-base.json" "$fx/compare-base.json"
check "compare md" 1 "$ud" compare "$fx/compare-base.json" "$fx/compare-head.json" --format md
has "compare md" "$tmp/out" "| :x: SLOWER |"
check "compare json" 1 "$ud" compare "$fx/compare-base.json" "$fx/compare-head.json" --format json \
  --out "$tmp/cmp.json"
has "compare json" "$tmp/cmp.json" '"schema": "udbench-compare/1"'
check "compare wide margin" 0 "$ud" compare "$fx/compare-base.json" "$fx/compare-head.json" --margin 40%
check "compare 3 vs 3" 3 "$ud" compare "$fx/good.json" "$fx/good.json"
check "compare disjoint" 2 "$ud" compare "$fx/minimal.json" "$fx/compare-head.json"
has "compare disjoint" "$tmp/err" "share no metric"
check "compare not json" 2 "$ud" compare "$fx/broken/not_json.txt" "$fx/compare-head.json"
check "compare a compare document" 2 "$ud" compare "$tmp/cmp.json" "$fx/compare-head.json"
check "compare bad margin" 2 "$ud" compare "$fx/compare-base.json" "$fx/compare-head.json" --margin 150%
check "compare one file" 2 "$ud" compare "$fx/compare-base.json"

# export: every format from both kinds of document.
for f in gab-bigger gab-smaller bmf gbench junit; do
  check "export $f results" 0 "$ud" export "$fx/compare-base.json" --format "$f"
  check "export $f compare" 0 "$ud" export "$tmp/cmp.json" --format "$f"
done
"$ud" export "$tmp/cmp.json" --format junit >"$tmp/junit.xml"
has "junit failure" "$tmp/junit.xml" '<failure message="slower'
check "export bad format" 2 "$ud" export "$tmp/cmp.json" --format csv
check "export not a document" 2 "$ud" export "$fx/broken/not_json.txt" --format bmf

# history: four documents like the base, then four like the head: one change, at document 5,
# on ultradict only.
files=()
for _ in 1 2 3 4; do files+=("$fx/compare-base.json"); done
for _ in 1 2 3 4; do files+=("$fx/compare-head.json"); done
check "history" 0 "$ud" history --min-segment 2 --p 0.05 "${files[@]}"
has "history change" "$tmp/out" "read ultradict.*from document 5.*cost +25.0% (slower)"
has "history count" "$tmp/out" "1 change points over 2 series"
check "history too few" 2 "$ud" history "$fx/compare-base.json"

# udcount runs every case natively.
for c in $("$udcount" --list); do check "udcount $c" 0 "$udcount" "$c" 50; done
check "udcount usage" 2 "$udcount" nonsense 5

# gate: usage errors, and a tiny real run of this build against itself.
check "gate no builds" 2 "$ud" gate
check "gate bad margin" 2 "$ud" gate --base "$ud" --head "$ud" --margin x
check "gate missing build" 2 "$ud" gate --base /nonexistent --head "$ud"
gate_runs "gate A/A" --base "$ud" --head "$ud" --suite smoke --pairs 6 --looks 1 --seed 7 \
  --out "$tmp/gate.json"
has "gate document" "$tmp/gate.json" '"method": "paired-sign"'
has "gate lockstep pairs" "$tmp/gate.json" '"batch"'
check "gate bad mode" 2 "$ud" gate --base "$ud" --head "$ud" --mode sideways
check "gate bad rounds" 2 "$ud" gate --base "$ud" --head "$ud" --rounds 2
check "gate-worker bad scenario" 2 "$ud" gate-worker --scenario nosuch --backend local:
check "gate-worker protocol" 0 "$ud" gate-worker --protocol
has "gate-worker protocol" "$tmp/out" "^3$"
check "gate unknown scenario" 2 "$ud" gate --base "$ud" --head "$ud" --scenario nosuch
has "gate unknown scenario" "$tmp/err" "no scenario 'nosuch'"
check "gate failover refused" 2 "$ud" gate --base "$ud" --head "$ud" --scenario failover
check "gate bad batch" 2 "$ud" gate --base "$ud" --head "$ud" --batch 5
check "gate unreachable backend" 4 "$ud" gate --base "$ud" --head "$ud" --scenario read \
  --backend redis://127.0.0.1:1
has "gate unreachable backend" "$tmp/err" "does not answer"
# Any scenario of the catalogue on any backend: zipf and large (outside the old gate's five
# cells) on two embedded stores, one of them file-based (`@`: each build's own folder).
gate_runs "gate of zipf and large" --base "$ud" --head "$ud" --scenario zipf --scenario large \
  --backend local: --backend 'sqlite:@/g.sqlite?sync=off' --pairs 4 --looks 1 --rounds 7 \
  --seed 3 --out "$tmp/gate-any.json"
for cell in "zipf local:" "large local:" "zipf sqlite:@/g.sqlite?sync=off" "large sqlite:@/g.sqlite?sync=off"; do
  read -r sc be <<<"$cell"
  n=$(jq --arg s "$sc" --arg b "$be" '[.comparisons[] | select(.scenario == $s and .backend == $b and (.pairs | length) >= 4)] | length' "$tmp/gate-any.json" 2>/dev/null)
  [ "$n" = 1 ] || { echo "FAIL: gate of $sc on $be: no comparison with 4 pairs in the document"; failures=$((failures + 1)); }
done
# A build without the lockstep worker (here: a script that is not udbench) is refused in
# --mode lockstep, and its whole-process trials fail with status 4, not a verdict.
printf '#!/bin/sh\nexit 1\n' >"$tmp/old-udbench"
chmod +x "$tmp/old-udbench"
check "gate lockstep needs workers" 2 "$ud" gate --base "$tmp/old-udbench" --head "$ud" --mode lockstep
check "gate trial failure" 4 "$ud" gate --base "$tmp/old-udbench" --head "$ud" --suite smoke --pairs 3 --looks 1
# The whole-process mode still runs (for bases that predate the lockstep worker).
gate_runs "gate A/A, process mode" --base "$ud" --head "$ud" --suite smoke --pairs 3 --looks 1 \
  --mode process --out "$tmp/gate-p.json"
has "gate process trials" "$tmp/gate-p.json" '"duration_s"'
check "gate document exports" 0 "$ud" export "$tmp/gate.json" --format junit

# lock on a store both builds reach (a file here, a server alike): each build counts on a key
# of its own. On one shared key each build's counter held the other's increments too (and the
# worker now refuses that: exit 4).
if command -v sqlite3 >/dev/null 2>&1; then
  check "gate lock on a shared store" 3 "$ud" gate --base "$ud" --head "$ud" --scenario lock \
    --procs 2 --backend "sqlite:$tmp/shared.db?sync=off" --pairs 3 --looks 1 --rounds 5 --seed 3
  for ns in gate-b gate-h; do
    n=$(sqlite3 "$tmp/shared.db" "select count(*) from kv where cast(k as text) = '$ns:udbench:counter:0' and cast(v as integer) > 0")
    [ "$n" = 1 ] || { echo "FAIL: gate lock on a shared store: no counter of its own for $ns"; sqlite3 "$tmp/shared.db" "select cast(k as text) from kv"; failures=$((failures + 1)); }
  done
fi

[ "$failures" = 0 ] && echo "all gate CLI checks passed"
exit $((failures > 0))
