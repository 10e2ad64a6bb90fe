#!/usr/bin/env bash
# The failover scenario end to end. Usage: test_failover.sh UDBENCH SOURCE_DIR embedded|service
#   embedded: ultradict:, sqlite: and lmdb:, whose "node" is one of the run's writer processes
#             (kill -9, restarted): no acknowledged write may be lost.
#   service:  the servers scripts/services runs (redis, memcached; the cluster and the pool when
#             they run): the node is killed by PID and restarted; the figures must agree with
#             each other and the node must come back. Also: a PID the node list names that does
#             not serve the backend is refused, not killed; without a node list the cell is n/a.
set -u
udbench=$1
src=$2
mode=$3
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

# Checks every failover cell of document $1 and prints "ok|FAIL - what" lines. $2: "zero" when
# no acknowledged write may be lost, "measured" otherwise.
verdicts() {
  python3 - "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
zero = sys.argv[2] == "zero"
def say(good, what):
    print(("ok - " if good else "FAIL - ") + what)
cells = [c for c in doc["results"] if c["scenario"] == "failover" and not c["backend"].startswith("null:")]
say(len(cells) > 0, "the document has failover cells")
for c in cells:
    b = c["backend"]
    say(c["status"] == "ok", f"{b}: the cell ran ({c['reason']})")
    if c["status"] != "ok":
        continue
    f = c["failover"]
    say(f is not None and len(f["reps"]) == int(c["params"]["repeat"]), f"{b}: one failover record per run")
    say(c["merit"]["figure"] == "lost writes" and c["merit"]["direction"] == "lower", f"{b}: ranked by lost writes")
    procs = int(c["params"]["procs"])
    for i, r in enumerate(f["reps"]):
        keys = r["keys"]
        say(r["acked_writes"] > keys, f"{b} run {i}: writes were acknowledged beyond the prefill ({r['acked_writes']})")
        say(r["lost_before_kill"] <= r["lost_writes"] <= r["acked_writes"], f"{b} run {i}: lost within acknowledged")
        share = r["lost_writes"] / r["acked_writes"]
        say(abs(share - r["lost_share"]) < 1e-9, f"{b} run {i}: lost_share = lost / acked")
        say((r["lost_writes"] > 0) == (r["missing_keys"] + r["older_keys"] > 0), f"{b} run {i}: lost writes iff keys missing or older")
        say(len(r["worker_window_s"]) == procs and all(w <= r["window_s"] + 1e-9 for w in r["worker_window_s"]), f"{b} run {i}: each worker's window within the merged one")
        say(r["recovered"], f"{b} run {i}: every worker recovered")
        say(r["restart_s"] is not None and r["restart_s"] >= 0, f"{b} run {i}: the node was restarted")
        say(0 < r["kill_s"] < float(c["params"]["duration_s"]), f"{b} run {i}: the kill fell inside the phase ({r['kill_s']:.3f} s)")
        ops = {m["op"]: sum(x["ops"] for x in m["reps"]) for m in c["metrics"]}
        say(ops.get("write", 0) > 0 and ops.get("read", 0) > 0, f"{b} run {i}: writes and reads succeeded")
        if zero:
            say(r["lost_writes"] == 0, f"{b} run {i}: no acknowledged write lost ({r['lost_writes']})")
            bad = {k: v for k, v in r["errors"].items() if k in ("SC_ETORN", "SC_ESTALE", "SC_EMISSING")}
            say(not bad, f"{b} run {i}: no torn, stale or missing read ({bad})")
            say("writer" in r["victim"], f"{b} run {i}: a writer process was killed ({r['victim']})")
        else:
            say(r["window_s"] > 0 and any(k.startswith("KV_ECONN") for k in r["errors"]), f"{b} run {i}: the kill was felt (window {r['window_s']:.3f} s, errors {r['errors']})")
            print(f"# {b} run {i}: window {r['window_s']:.3f} s, lost {r['lost_writes']} of {r['acked_writes']} ({r['lost_before_kill']} before the kill), errors {r['errors']}, killed {r['victim']}")
PY
}

# Runs the verdicts and counts them.
count_verdicts() {
  verdicts "$1" "$2" >"$tmp/verdicts" 2>&1
  cat "$tmp/verdicts"
  pass=$((pass + $(grep -c '^ok - ' "$tmp/verdicts")))
  fail=$((fail + $(grep -c '^FAIL - ' "$tmp/verdicts")))
  if grep -q Traceback "$tmp/verdicts"; then fail=$((fail + 1)); fi
}

run() {
  "$udbench" run --scenario failover --procs 2 --duration 1 --repeat 2 --out "$tmp/$1.json" \
    "${@:2}" >"$tmp/$1.txt" 2>"$tmp/$1.err"
}

if [ "$mode" = embedded ]; then
  run embedded --backend "ultradict:" --backend "sqlite:$tmp/fo.db" --backend "lmdb:$tmp/lmdb"
  rc=$?
  check "udbench run --scenario failover on the embedded stores exits 0" [ "$rc" -eq 0 ]
  [ "$rc" -eq 0 ] || sed 's/^/#   /' "$tmp/embedded.err" | tail -20
  count_verdicts "$tmp/embedded.json" zero
  check "the text report has the failover section" grep -q "^Failover" "$tmp/embedded.txt"
  "$udbench" report "$tmp/embedded.json" --format md >"$tmp/embedded.md" 2>/dev/null
  check "the Markdown report has the failover table" grep -q "^## Failover" "$tmp/embedded.md"
  # Without --repeat, the suite's 40 repetitions are capped at the scenario's 3 (max_repeat).
  "$udbench" run --scenario failover --procs 2 --duration 0.3 --backend ultradict: \
    --out "$tmp/capped.json" >/dev/null 2>&1
  check "failover runs at most 3 of the suite's repetitions" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
c = [c for c in d["results"] if c["backend"] == "ultradict:"][0]
sys.exit(0 if c["params"]["repeat"] == "3" and len(c["failover"]["reps"]) == 3 else 1)' \
    "$tmp/capped.json"
else
  services="$src/scripts/services"
  uris=$("$services" status 2>/dev/null | awk '$1 == "redis" || $1 == "memcached" || $1 == "redis-cluster" || $1 == "memcached-pool" {print $2}')
  if [ -z "$uris" ]; then
    echo "# no service runs: nothing to test (start them with scripts/services start)"
    exit 0
  fi
  read -ra names <<<"$("$services" status 2>/dev/null | awk '$1 == "redis" || $1 == "memcached" || $1 == "redis-cluster" || $1 == "memcached-pool" {print $1}' | tr '\n' ' ')"
  args=()
  for u in $uris; do args+=(--backend "$u"); done

  # Without a node list, a server is not killed: n/a, with the reason.
  UDBENCH_NODES_CMD='' run nonodes "${args[@]}"
  check "without UDBENCH_NODES_CMD the server cells are n/a" \
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=[x for x in d["results"] if not x["backend"].startswith("null:")]; sys.exit(0 if c and all(x["status"]=="n/a" and "UDBENCH_NODES_CMD" in x["reason"] for x in c) else 1)' "$tmp/nonodes.json"

  # A PID that does not serve the backend (this shell) is refused, and survives.
  first=$(echo "$uris" | head -1)
  hostport=$(echo "$first" | sed -E 's#^[a-z+-]+://([^,/?]+).*#\1#')
  UDBENCH_NODES_CMD="echo $$ $hostport server" UDBENCH_RESTART_CMD=true run refused --backend "$first"
  check "a listed PID that does not listen on the port is refused" grep -q "refusing to kill pid $$" "$tmp/refused.txt"
  check "and it is still alive" kill -0 $$

  before=$("$services" pids "${names[@]}")
  echo "# nodes before: $(echo "$before" | tr '\n' ';')"
  UDBENCH_NODES_CMD="$services pids ${names[*]}" UDBENCH_RESTART_CMD="$services start ${names[*]}" \
    run service "${args[@]}"
  rc=$?
  check "udbench run --scenario failover on the services exits 0" [ "$rc" -eq 0 ]
  [ "$rc" -eq 0 ] || sed 's/^/#   /' "$tmp/service.err" | tail -20
  count_verdicts "$tmp/service.json" measured
  after=$("$services" pids "${names[@]}")
  echo "# nodes after: $(echo "$after" | tr '\n' ';')"
  check "every service runs again after the run" "$services" status "${names[@]}"
  check "the killed nodes were restarted under new PIDs" [ "$before" != "$after" ]
fi

finish
