#!/usr/bin/env bash
# udbench across ranks: `mpirun -np 4 udbench run --mpi` on this machine (oversubscribed).
# Checks that the merged document names every rank's host, that each merged operation count
# equals the sum of the four ranks' own counts (each rank prints them), that the lock counter
# shared by all ranks lost nothing, and the refusals: an unnamed ultradict: under several
# ranks, and stores on one host when the ranks span hosts (played with UDBENCH_MPI_HOST).
# Usage: test_mpi.sh UDBENCH
set -u
udbench=$1
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh"

if ! "$udbench" run --help | grep -q -- "--mpi"; then
  not_ok "udbench run --help lists --mpi"
fi
if "$udbench" run --help | grep -q "not in this build"; then
  "$udbench" run --mpi --scenario read >"$tmp/out" 2>"$tmp/err"
  check "without MPI in the build, --mpi is refused with exit 2" [ $? -eq 2 ]
  check "and says so" grep -q "built without MPI" "$tmp/err"
  echo "# built without MPI"
  finish
fi
if ! command -v mpirun >/dev/null; then
  echo "# mpirun is not installed (scripts/bootstrap installs openmpi-bin)"
  exit 1
fi
mpi=(mpirun --oversubscribe -np 4)
[ "$(id -u)" -eq 0 ] && mpi=(mpirun --allow-run-as-root --oversubscribe -np 4)

name="udmpi$$"
"${mpi[@]}" "$udbench" run --mpi --scenario read --scenario write --scenario lock \
  --backend "sqlite:$tmp/m.db" --backend "ultradict:$name" --procs 1,2 --duration 0.3 \
  --repeat 2 --out "$tmp/mpi.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
check "mpirun -np 4 udbench run --mpi exits 0" [ "$rc" -eq 0 ]
[ "$rc" -eq 0 ] || tail -20 "$tmp/err" | sed 's/^/#   /'
grep '^udbench: rank ' "$tmp/err" >"$tmp/ranks"
python3 - "$tmp/mpi.json" "$tmp/ranks" <<'PY' >"$tmp/verdicts" 2>&1
import json, re, sys, collections
doc = json.load(open(sys.argv[1]))
def say(good, what):
    print(("ok - " if good else "FAIL - ") + what)
say(len(doc["run"]["hosts"]) == 4, f"run.hosts names 4 ranks: {doc['run']['hosts']}")
# "udbench: rank R of S (HOST): SCENARIO on BACKEND, procs P, round N: OP COUNT ..."
per = collections.defaultdict(int)
ranks = collections.defaultdict(set)
for line in open(sys.argv[2]):
    m = re.match(r"udbench: rank (\d+) of 4 \((.*?)\): (\S+) on (\S+), procs (\d+), round (\d+):(.*)", line)
    if not m:
        continue
    r, host, scen, backend, procs, rnd, rest = m.groups()
    f = rest.split()
    for op, n in zip(f[::2], f[1::2]):
        per[(scen, backend, procs, int(rnd), op)] += int(n)
        ranks[(scen, backend, procs, int(rnd), op)].add(int(r))
cells = [c for c in doc["results"] if c["status"] == "ok"]
say(len(cells) >= 8, f"{len(cells)} cells ran")
checked = 0
for c in doc["results"]:
    say(c["status"] != "error", f"{c['scenario']} on {c['backend']}: {c['status']} {c['reason']}")
    if c["status"] != "ok":
        continue
    say(c["params"].get("ranks") == "4", f"{c['scenario']} on {c['backend']}: param ranks=4")
    for m in c["metrics"]:
        for rep in m["reps"]:
            procs = c["params"]["procs"]
            key = (c["scenario"], c["backend"], procs, rep["round"], m["op"])
            checked += 1
            want = per.get(key)
            say(want == rep["ops"] and len(ranks[key]) == 4, f"{c['scenario']} {m['op']} on {c['backend']} procs={procs} round {rep['round']}: merged {rep['ops']} = sum of the ranks' {want}")
    k = c["correctness"]
    if c["scenario"] == "lock" and k:
        say(k["lost_updates"] == 0 and k["expected"] == k["observed"], f"lock on {c['backend']} procs={c['params']['procs']}: expected {k['expected']}, observed {k['observed']}")
say(checked > 0, f"{checked} merged counts checked")
PY
cat "$tmp/verdicts"
pass=$((pass + $(grep -c '^ok - ' "$tmp/verdicts")))
fail=$((fail + $(grep -c '^FAIL - ' "$tmp/verdicts")))
grep -q Traceback "$tmp/verdicts" && fail=$((fail + 1))

# Refusals.
mpi2=("${mpi[@]}")
mpi2[${#mpi2[@]} - 1]=2
"${mpi2[@]}" "$udbench" run --mpi --scenario read --backend "ultradict:" --duration 0.1 >"$tmp/out" 2>"$tmp/err"
check "an unnamed ultradict: under 2 ranks is refused with exit 2" [ $? -eq 2 ]
check "with the reason" grep -q "has no name" "$tmp/err"
# shellcheck disable=SC2016 # expanded by the rank's own shell
"${mpi2[@]}" sh -c 'UDBENCH_MPI_HOST=host$OMPI_COMM_WORLD_RANK exec "$0" "$@"' "$udbench" run --mpi \
  --scenario read --backend "sqlite:$tmp/x.db" --duration 0.1 >"$tmp/out" 2>"$tmp/err"
check "sqlite: across two hosts is refused with exit 2" [ $? -eq 2 ]
check "with the reason" grep -q "lives in one host's memory or files" "$tmp/err"

# A store that one rank cannot reach: every rank stops (exit 1, "unreachable"), none waits
# forever in a collective for the others.
mkdir "$tmp/r0"
# shellcheck disable=SC2016 # expanded by the rank's own shell
timeout 120 "${mpi2[@]}" sh -c 'exec "$0" "$@" --backend "sqlite:'"$tmp"'/r$OMPI_COMM_WORLD_RANK/x.db"' \
  "$udbench" run --mpi --scenario read --duration 0.1 >"$tmp/out" 2>"$tmp/err"
rc=$?
check "a store one rank cannot reach ends the run on every rank (exit 1, not a hang: $rc)" [ "$rc" -eq 1 ]
check "with the reason" grep -q "unreachable" "$tmp/err"

finish
