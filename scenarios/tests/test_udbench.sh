#!/usr/bin/env bash
# udbench end to end: the smoke suite against every backend available here, its document read
# back and reported in every format, correctness counters that must be zero, and the error
# paths. Usage: test_udbench.sh UDBENCH SOURCE_DIR
set -u
udbench=$1
src=$2
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

# The services' URIs, when scripts/services runs them.
backends=""
if [ -x "$src/scripts/services" ]; then
  backends=$("$src/scripts/services" status 2>/dev/null | awk '{print $2}' | tr '\n' ' ')
fi
export UDBENCH_BACKENDS="$backends"
echo "# extra backends: ${backends:-none}"

# ---- the smoke suite ----
start=$(date +%s)
"$udbench" run --suite smoke --out "$tmp/smoke.json" >"$tmp/ranking.txt" 2>"$tmp/progress.txt"
rc=$?
echo "# smoke suite: $(($(date +%s) - start)) s"
check "the smoke suite exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || sed 's/^/#   /' "$tmp/progress.txt" | grep -i error | head -20
check "it prints a ranking" grep -q "ops/s" "$tmp/ranking.txt"
check "it writes a document" [ -s "$tmp/smoke.json" ]
for f in text md csv svg; do
  "$udbench" report "$tmp/smoke.json" --format "$f" >"$tmp/report.$f" 2>"$tmp/err"
  frc=$?
  check "report --format $f reads the document back" test "$frc" -eq 0 -a -s "$tmp/report.$f"

done
"$udbench" report "$tmp/smoke.json" --format csv >"$tmp/report.csv" 2>/dev/null

# Every backend appears; no cell failed; torn reads are zero everywhere; lost updates are zero
# wherever the counter went through an atomic increment or a lock.
python3 - "$tmp/report.csv" "$tmp/smoke.json" <<'PY' >"$tmp/verdicts" 2>&1
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
doc = json.load(open(sys.argv[2]))
reachable = [b["uri"] for b in doc["backends"] if b["reachable"]]
seen = {r["backend"] for r in rows}
for b in reachable:
    print("backend-present", b in seen, b)
for r in rows:
    if r["status"] == "error":
        print("cell-ok", False, r["scenario"], r["backend"], r["reason"])
    torn = r.get("torn_reads") or "0"
    if int(float(torn)) != 0:
        print("torn-zero", False, r["scenario"], r["backend"], torn)
    if r["scenario"] == "lock" and r["status"] == "ok":
        params = dict(p.split("=", 1) for p in r["params"].split(";") if "=" in p)
        lost = int(float(r.get("lost_updates") or 0))
        if params.get("primitive") != "none":
            print("lost-zero", lost == 0, r["backend"], params.get("primitive"), lost)
        else:
            print("# lost updates without a primitive:", r["backend"], lost)
ok_cells = sum(1 for r in rows if r["status"] == "ok")
print("cells-ran", ok_cells > 0, ok_cells)
PY
while read -r what verdict rest; do
  case "$what" in
  "#") echo "# $verdict $rest" ;;
  *) if [ "$verdict" = True ]; then ok "$what $rest"; else not_ok "$what $rest"; fi ;;
  esac
done <"$tmp/verdicts"

# Same seed, same operations: two runs of a fixed number of operations agree on the count.
"$udbench" run --scenario write --backend local: --procs 1 --ops 5000 --repeat 1 --seed 7 \
  --out "$tmp/a.json" >/dev/null 2>&1
check "ops mode counts exactly the operations asked for" \
  python3 -c "import json,sys; d=json.load(open('$tmp/a.json')); \
sys.exit(0 if d['results'][0]['metrics'][0]['reps'][0]['ops']==5000 else 1)"


# ---- lockstep rounds, the harness floor, figures of merit, probes and pairs (udbench/3) ----
"$udbench" run --scenario read --scenario visibility --backend local: --backend "sqlite:$tmp/r.sqlite" \
  --procs 2 --repeat 5 --duration 0.02 --seed 3 --out "$tmp/rounds.json" >/dev/null 2>&1
python3 - "$tmp/rounds.json" <<'PY' >"$tmp/verdicts2" 2>&1
import json, sys
doc = json.load(open(sys.argv[1]))
print("schema-v3", doc["schema"] == "udbench/3", doc["schema"])
print("lockstep-recorded", doc["run"]["lockstep"] is True, doc["run"]["lockstep"])
print("rounds-recorded", doc["run"]["rounds"] == 5, doc["run"]["rounds"])
read = [c for c in doc["results"] if c["scenario"] == "read"]
print("null-in-group", any(c["backend"] == "null:" for c in read), len(read))
orders = {}
for c in read:
    reps = c["metrics"][0]["reps"]
    print("five-reps", len(reps) == 5, c["backend"], len(reps))
    for r in reps:
        orders.setdefault(r["round"], {})[r["position"]] = c["backend"]
    print("floor-recorded", c["harness_floor_ns"] is not None and c["harness_floor_ns"] > 0,
          c["backend"], c["harness_floor_ns"])
    m = c["metrics"][0]
    print("interval-brackets-median", m["ci_low"] <= m["median"] <= m["ci_high"], c["backend"])
    probed = all(r["probe_before"] and r["probe_after"] and r["regime"] in ("fast", "slow", "changed")
                 for r in reps)
    print("every-batch-probed", probed, c["backend"])
    pr = c["merit"]["paired"]
    print("paired-against-local", pr is not None and pr["reference"] == "local:", c["backend"], pr)
    ratios = [r["ratio"] for r in reps if r["ratio"]]
    print("a-ratio-per-round", len(ratios) == 5, c["backend"], len(ratios))
    if c["backend"] == "local:":
        print("reference-ratio-is-1", all(abs(x - 1) < 1e-12 for x in ratios), ratios)
perm = all(sorted(o) == list(range(len(read))) for o in orders.values())
print("each-round-runs-every-backend-once", perm and len(orders) == 5, len(orders))
seqs = {tuple(o[k] for k in sorted(o)) for o in orders.values()}
print("orders-shuffled-per-round", len(seqs) > 1, len(seqs))
vis = [c for c in doc["results"] if c["scenario"] == "visibility" and c["status"] == "ok"]
for c in vis:
    mr = c["merit"]
    print("visibility-merit-is-latency", mr["metric"] == "visible" and mr["figure"] == "p50 ns"
          and mr["direction"] == "lower", c["backend"], mr)
    ops = [m["op"] for m in c["metrics"]]
    print("visibility-has-its-round-trip", ops == ["visible", "write", "rtt"], c["backend"], ops)
print("visibility-ran", len(vis) > 0, len(vis))
PY
while read -r what verdict rest; do
  if [ "$verdict" = True ]; then ok "$what $rest"; else not_ok "$what $rest"; fi
done <"$tmp/verdicts2"

# Two backends of one group that reach one store (one dict by two URIs, as redis over TCP and
# over its socket) run side by side in lockstep: each counts and stamps keys of its own, so
# the counts add up and the visibility readers see their own writer's stamps (they waited
# forever for a stamp above the other writer's).
shared="udbench_shared_$$"
timeout 120 "$udbench" run --scenario lock --scenario visibility --backend "ultradict:$shared" \
  --backend "ultradict:$shared?create=any" --procs 2 --repeat 4 --duration 0.005 \
  --out "$tmp/shared.json" >/dev/null 2>"$tmp/err"
check "two URIs of one store run lock and visibility side by side" [ $? -eq 0 ]
check "no lost updates on a store two URIs share" python3 -c "
import json, sys
d = json.load(open('$tmp/shared.json'))
lost = [c['correctness']['lost_updates'] for c in d['results']
        if c['scenario'] == 'lock' and c['backend'] != 'null:']
print('#', lost)
sys.exit(0 if len(lost) == 2 and lost == [0, 0] else 1)"
[ -x "$(dirname "$udbench")/ultradict" ] && "$(dirname "$udbench")/ultradict" unlink "$shared" >/dev/null 2>&1

# Whole repetitions are still there (--method repetitions): no pairs, but probed repetitions.
"$udbench" run --scenario read --backend local: --procs 1 --repeat 2 --duration 0.02 \
  --method repetitions --out "$tmp/reps.json" >/dev/null 2>&1
check "--method repetitions runs whole repetitions, probed and unpaired" python3 -c "
import json, sys
d = json.load(open('$tmp/reps.json'))
c = d['results'][0]
reps = c['metrics'][0]['reps']
sys.exit(0 if d['run']['lockstep'] is False and len(reps) == 2 and c['merit']['paired'] is None
         and all(r['regime'] for r in reps) else 1)"
expect_exit 2 "bad --method" "$udbench" run --method sometimes

# Only the backend's call is timed: writing a 64 KiB value to null: costs the harness next to
# nothing (making the value inside the timed part cost about 100 us here). The bound sits far
# from both figures, so that a loaded machine or a sanitizer build cannot cross it.
"$udbench" run --scenario write --backend null: --procs 1 --value-size 64K --repeat 1 \
  --duration 0.05 --out "$tmp/floor.json" >/dev/null 2>&1
check "a 64 KiB write to null: costs under 20 us (values are made before the clock starts)" \
  python3 -c "import json,sys; d=json.load(open('$tmp/floor.json')); \
m=d['results'][0]['metrics'][0]; print('#', m['latency']['p50']); \
sys.exit(0 if m['latency']['p50'] < 20000 else 1)"

# Two URIs that reach one store (the local runtime's KV namespace), interleaved round by round:
# each round of the dump scenario must find its own entries.
cf_kv=$(echo "$backends" | tr ' ' '\n' | grep '^cloudflare-kv:' | head -1)
cf_rest=$(echo "$backends" | tr ' ' '\n' | grep '^cloudflare-rest:' | head -1)
if [ -n "$cf_kv" ] && [ -n "$cf_rest" ]; then
  "$udbench" run --scenario dump --backend "$cf_kv" --backend "$cf_rest" --entries 20 --repeat 2 \
    --duration 0.01 >/dev/null 2>"$tmp/err"
  check "interleaved dumps of two URIs sharing one store both succeed" [ $? -eq 0 ]
  # A backend whose round trip is a millisecond or more dumps a tenth of the entries, in a
  # group of its own with null: and local: beside it.
  "$udbench" run --scenario dump --backend local: --backend "$cf_kv" --entries 50 --repeat 1 \
    --duration 0.01 --out "$tmp/slow.json" >/dev/null 2>"$tmp/err"
  check "the slow-backend dump groups succeed" [ $? -eq 0 ]
  check "the slow backend dumps 5 entries, local: both 50 and 5" python3 -c "
import json, sys
d = json.load(open('$tmp/slow.json'))
got = sorted((c['backend'].split(':')[0], c['params']['entries']) for c in d['results'])
print('#', got)
sys.exit(0 if got == sorted([('local', '50'), ('null', '50'), ('local', '5'), ('null', '5'),
                             ('cloudflare-kv', '5')]) else 1)"
fi

# A run whose pid is that of an earlier run killed before it could clean up (exec keeps the
# pid) must not take the dict left behind for its own: this one says it holds the working set
# (its prefill mark) but does not, and the read cell's warm-up used to fail with KV_ENOTFOUND.
ud=$(dirname "$udbench")/ultradict
if [ -x "$ud" ]; then
  bash -c '"$1" create "udbench_$$" >/dev/null && echo "$$" >"$3" &&
    "$1" set "udbench_$$" udbench:prefill "1000 keys of 100 bytes" >/dev/null &&
    exec "$2" run --scenario read --backend ultradict: --procs 1 --keys 1000 --repeat 1 \
      --duration 0.02' _ "$ud" "$udbench" "$tmp/stale" >/dev/null 2>"$tmp/err"
  rc=$?
  [ -s "$tmp/stale" ] && "$ud" unlink "udbench_$(cat "$tmp/stale")" >/dev/null 2>&1
  check "a dict left behind under the run's pid is not taken for the run's own" [ "$rc" -eq 0 ]
  [ "$rc" -eq 0 ] || sed 's/^/#   /' "$tmp/err" | head -5
fi

# Every scenario has a harness floor: null: runs lock, visibility and dump like any backend,
# and has no correctness verdict (it keeps no counter).
"$udbench" run --scenario lock --scenario visibility --scenario dump --backend null: \
  --backend local: --procs 2 --entries 100 --repeat 1 --duration 0.02 --out "$tmp/nullfloor.json" \
  >/dev/null 2>"$tmp/err"
check "null: runs lock, visibility and dump" [ $? -eq 0 ]
python3 - "$tmp/nullfloor.json" <<'PY' >"$tmp/verdicts3" 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
cells = {c["scenario"]: c for c in d["results"] if c["backend"] == "null:"}
for s in ("lock", "visibility", "dump"):
    c = cells.get(s, {})
    # The floor is what is left above the clock's own cost: it may round to 0.
    floor = c.get("harness_floor_ns")
    ok = c.get("status") == "ok" and floor is not None and floor >= 0
    print("null:-%s-has-a-floor" % s, ok, c.get("status"), c.get("harness_floor_ns"))
lock = cells.get("lock", {})
print("null:-lock-has-no-verdict", "correctness" not in lock or not lock["correctness"], "")
PY
while read -r what verdict rest; do
  if [ "$verdict" = True ]; then ok "$what $rest"; else not_ok "$what $rest"; fi
done <"$tmp/verdicts3"

"$udbench" report "$src/results/tests/fixtures/good-v1.json" >"$tmp/v1.txt" 2>"$tmp/err"
check "report still reads a udbench/1 document" [ $? -eq 0 -a -s "$tmp/v1.txt" ]
sed 's#"schema": "udbench/1"#"schema": "udbench/4"#' "$src/results/tests/fixtures/good-v1.json" \
  >"$tmp/v4.json"
expect_exit 1 "a newer schema is refused" "$udbench" report "$tmp/v4.json"
check "the refusal names the schema" grep -q 'unsupported schema "udbench/4"' "$tmp/err"
"$udbench" stability "$tmp/rounds.json" "$tmp/rounds.json" >"$tmp/aa.txt" 2>&1
check "stability of a run against itself: ratio 1, no flips" \
  sh -c "grep -q 'ratio of medians, p95 *1.000' '$tmp/aa.txt' && grep -q ', 0 of those' '$tmp/aa.txt'"
expect_exit 2 "stability needs two documents" "$udbench" stability "$tmp/rounds.json"

# ---- error paths ----
expect_exit 2 "unknown scenario" "$udbench" run --scenario nosuch
expect_exit 2 "unknown suite" "$udbench" run --suite huge
expect_exit 2 "bad --procs" "$udbench" run --procs 0
expect_exit 2 "bad --duration" "$udbench" run --duration -1
expect_exit 2 "bad --distribution" "$udbench" run --distribution zipf:2
expect_exit 2 "--ops with --duration" "$udbench" run --ops 10 --duration 1
expect_exit 2 "unknown command" "$udbench" frobnicate
expect_exit 1 "unknown URI scheme" "$udbench" run --scenario read --backend nosuch://x
expect_exit 1 "malformed URI" "$udbench" run --scenario read --backend "redis://127.0.0.1:notaport"
t0=$(date +%s)
expect_exit 1 "unreachable server" "$udbench" run --scenario read --backend redis://127.0.0.1:1
check "the unreachable server is reported within 15 s" [ $(($(date +%s) - t0)) -le 15 ]
expect_exit 1 "missing document" "$udbench" report "$tmp/none.json"
printf '{"schema": "udbench/1", "run": ' >"$tmp/truncated.json"
expect_exit 1 "truncated document" "$udbench" report "$tmp/truncated.json"
echo '{"schema": "other/9"}' >"$tmp/other.json"
expect_exit 1 "document of another schema" "$udbench" report "$tmp/other.json"
expect_exit 2 "unknown report format" "$udbench" report "$tmp/smoke.json" --format pdf
check "list names the scenarios" sh -c "'$udbench' list | grep -q visibility"

# No segment of ours is left behind. Segments are named udbench_<pid>; those of udbench
# processes still running belong to somebody else's run on this machine.
left=0
for seg in /dev/shm/udbench_*; do
  [ -e "$seg" ] || continue
  pid=${seg#/dev/shm/udbench_}
  pid=${pid%%[!0-9]*}
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then left=$((left + 1)); fi
done
check "no udbench dict left in /dev/shm" [ "$left" -eq 0 ]

finish
