#!/usr/bin/env bash
# The gate on a server: a redis cell is gated like any other (when scripts/services runs
# redis), and a slowdown injected into the redis adapter alone (KV_REDIS_INJECT_DELAY_NS, set
# for the head build only through a wrapper) FAILs the redis cell and leaves local: clean.
# Usage: test_gate_service.sh UDBENCH SOURCE_DIR
set -uo pipefail
ud=$1 src=$2
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"
# gate_fail DESC: a failed check of a gate run, with what the run printed.
gate_fail() {
  not_ok "$1"
  cat "$tmp/out" "$tmp/err"
}
redis=$("$src/scripts/services" status 2>/dev/null | awk '$1 == "redis" {print $2}')
if [ -z "$redis" ]; then
  echo "# redis does not run: nothing to test (start it with scripts/services start redis)"
  exit 0
fi

# A redis cell beside local:, A/A: a verdict or inconclusive, never a failure, and the redis
# comparison is in the document with its pairs.
"$ud" gate --base "$ud" --head "$ud" --scenario read --backend "$redis" --backend local: \
  --pairs 4 --looks 1 --rounds 9 --seed 5 --out "$tmp/aa.json" >"$tmp/out" 2>"$tmp/err"
st=$?
{ [ "$st" = 0 ] || [ "$st" = 3 ]; } || gate_fail "gate A/A with redis: exit $st (0 or 3 expected)"
n=$(jq --arg b "$redis" '[.comparisons[] | select(.backend == $b and .scenario == "read" and (.pairs | length) >= 4)] | length' "$tmp/aa.json")
[ "$n" = 1 ] || gate_fail "gate A/A with redis: no redis comparison with 4 pairs"

# The head build with every redis command 40 us slower (a round trip here is 20 to 60 us).
printf '#!/bin/sh\nKV_REDIS_INJECT_DELAY_NS=40000 exec "%s" "$@"\n' "$ud" >"$tmp/slow-redis"
chmod +x "$tmp/slow-redis"
"$ud" gate --base "$ud" --head "$tmp/slow-redis" --scenario read --backend "$redis" \
  --backend local: --pairs 10 --looks 1 --rounds 9 --seed 6 --out "$tmp/slow.json" \
  >"$tmp/out" 2>"$tmp/err"
st=$?
[ "$st" = 1 ] || gate_fail "gate with a slower redis adapter: exit $st (1 expected)"
v=$(jq -r --arg b "$redis" '[.comparisons[] | select(.backend == $b)][0].verdict' "$tmp/slow.json")
[ "$v" = slower ] || gate_fail "the redis cell's verdict is '$v', not slower"
v=$(jq -r '[.comparisons[] | select(.backend == "local:")][0].verdict' "$tmp/slow.json")
[ "$v" != slower ] || gate_fail "local: was found slower, but only the redis adapter was slowed"

finish
