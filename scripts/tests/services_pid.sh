#!/usr/bin/env bash
# scripts/services must not take a live process for its own server because its PID and name
# match: a PID reused by another program called redis-server, after our redis died, is neither
# reported by `status` nor stopped by `stop`. The recorded start time tells them apart; with the
# right start time the same process counts (and is stopped). No real server is needed.
# Usage: services_pid.sh [SERVICES_SCRIPT]
set -euo pipefail
services=${1:-$(cd "$(dirname "$0")/.." && pwd)/services}
tmp=$(mktemp -d)
pid=
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A stand-in whose process name is "redis-server": a copy of sleep under that name.
mkdir -m 700 "$tmp/state" "$tmp/bin"
cp "$(command -v sleep)" "$tmp/bin/redis-server"
"$tmp/bin/redis-server" 300 &
pid=$!
for _ in $(seq 50); do
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ] && break
  sleep 0.05
done
[ "$(cat "/proc/$pid/comm")" = redis-server ] || fail "the stand-in is not named redis-server"
stat=$(cat "/proc/$pid/stat")
rest=${stat##*) }
# shellcheck disable=SC2086
set -- $rest
start=${20}

# Our redis (recorded with another start time) died; its PID now belongs to the stand-in.
echo "$pid" >"$tmp/state/redis.pid"
echo 56379 >"$tmp/state/redis.port"
echo $((start + 1)) >"$tmp/state/redis.start"
export UD_STATE_DIR=$tmp/state
if out=$("$services" status redis 2>&1); then
  fail "status took the reused pid $pid for our redis: $out"
fi
"$services" stop redis >/dev/null 2>&1 || fail "stop failed"
kill -0 "$pid" 2>/dev/null || fail "stop killed pid $pid, which is not ours"
[ ! -e "$tmp/state/redis.pid" ] || fail "stop left the stale pid file"

# The process we recorded, with its own start time: status reports it, stop ends it.
echo "$pid" >"$tmp/state/redis.pid"
echo 56379 >"$tmp/state/redis.port"
echo "$start" >"$tmp/state/redis.start"
"$services" status redis | grep -q "^redis redis://127.0.0.1:56379$" ||
  fail "status does not report the recorded process"
"$services" stop redis >/dev/null 2>&1 || fail "stop failed"
for _ in $(seq 50); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then fail "stop did not end the recorded process"; fi
pid=
echo "services_pid: ok"
