#!/usr/bin/env bash
# udbench end to end: the smoke suite against every backend available here, its document read
# back and reported in every format, correctness counters that must be zero, and the error
# paths. Usage: test_udbench.sh UDBENCH SOURCE_DIR
set -u
udbench=$1
src=$2
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); echo "ok - $1"; }
not_ok() { fail=$((fail + 1)); echo "FAIL - $1"; }
check() {
  local desc=$1
  shift
  if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# expect_exit CODE DESC CMD...: the command exits with CODE and says something on stderr.
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

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
