#!/usr/bin/env bash
# Every udbench command that reads results documents, on documents made by `rp_tool big`:
# sizes the writer can never produce (more repetitions than --repeat allows, more parameters,
# metrics or backends than any run has) are refused with a one-line error naming the field,
# and large legal documents (many cells) are read, reported, compared, exported and followed
# in history. No timing here: ctest's timeout is the only (generous) bound; the figures are
# in the README's reliability table.
# Then a hostile document (a machine name, URIs, scenario, parameters and operations holding
# ESC[2J, an OSC title sequence, BEL, \u0001, CR LF, DEL, a C1 CSI and Markdown, CSV and XML
# syntax) through every command that prints: no control character may reach the output, the
# SVG and JUnit outputs must be well-formed XML, the CSV must keep its columns, and the
# Markdown tables their cells.
# Usage: test_readers_large.sh UDBENCH RP_TOOL
set -uo pipefail
ud=$1 tool=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# run_all FILE: every command that reads FILE; its outputs go to $tmp/out.NAME and exit
# statuses to $tmp/status.NAME.
commands=(report-text report-md report-csv report-svg compare-text compare-md compare-json
  export-gab-bigger export-gab-smaller export-bmf export-gbench export-junit history stability)
run_one() { # NAME FILE
  local f=$2
  case $1 in
    report-*) "$ud" report "$f" --format "${1#report-}" ;;
    compare-*) "$ud" compare "$f" "$f" --format "${1#compare-}" ;;
    export-*) "$ud" export "$f" --format "${1#export-}" ;;
    history) "$ud" history "$f" "$f" "$f" "$f" "$f" "$f" ;;
    stability) "$ud" stability "$f" "$f" ;;
  esac
}
run_all() { # FILE [COMMAND...] (default: all)
  local f=$1
  shift
  [ $# -gt 0 ] || set -- "${commands[@]}"
  for c in "$@"; do
    run_one "$c" "$f" >"$tmp/out.$c" 2>"$tmp/err.$c"
    echo $? >"$tmp/status.$c"
  done
}

# Refused before any work: each command exits with a usage or input error and says why.
refuse() { # KIND N PATTERN [COMMAND...]
  "$tool" big "$1" "$2" "$tmp/doc.json" || { fail "rp_tool big $1 $2"; return; }
  local kind=$1 n=$2 pattern=$3
  shift 3
  [ $# -gt 0 ] || set -- "${commands[@]}"
  run_all "$tmp/doc.json" "$@"
  for c in "$@"; do
    st=$(cat "$tmp/status.$c")
    if [ "$st" = 0 ] || [ "$st" = 3 ] || ! grep -q -- "$pattern" "$tmp/err.$c"; then
      fail "$c on $n $kind: exit $st, expected a refusal saying '$pattern'"
      head -c 400 "$tmp/err.$c"
    fi
    [ "$(wc -l <"$tmp/err.$c")" -le 2 ] || fail "$c on $n $kind: more than a short error"
  done
}
refuse reps 1001 "reps: 1001 repetitions; udbench writes at most 1000"
# The issue's 300k repetitions (an 80 MB document): one command suffices, all read alike.
refuse reps 300000 "reps: 300000 repetitions; udbench writes at most 1000" report-text
refuse params 31 "params: 33 parameters; a cell has at most 32"
refuse metrics 17 "metrics: 17 metrics; a cell has at most 16"
refuse backends 255 "backends: 257 backends; a run has at most 256"

# Legal and large: every command succeeds (compare of a document with itself: pass or
# inconclusive).
accept() { # KIND N
  "$tool" big "$1" "$2" "$tmp/doc.json" || { fail "rp_tool big $1 $2"; return; }
  run_all "$tmp/doc.json"
  for c in "${commands[@]}"; do
    st=$(cat "$tmp/status.$c")
    case $st in
      0 | 3) ;;
      *) fail "$c on $2 $1: exit $st"; head -c 400 "$tmp/err.$c" ;;
    esac
  done
}
accept reps 64
accept params 30
accept metrics 16
accept backends 254
accept cells 3000

# The hostile document: reports, compare, export and history, and a refusal that quotes it.
"$tool" big cells 2 "$tmp/evil.json" hostile || fail "rp_tool big cells 2 hostile"
run_all "$tmp/evil.json"
jq '.run["\u001b[2Jevil\u0007"] = 1' "$tmp/evil.json" >"$tmp/evil-field.json"
"$ud" report "$tmp/evil-field.json" >"$tmp/out.refusal" 2>"$tmp/err.refusal"
echo $? >"$tmp/status.refusal"
control='[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]'
for c in "${commands[@]}" refusal; do
  st=$(cat "$tmp/status.$c")
  case $c:$st in
    refusal:1 | *:0 | *:3) ;;
    *) fail "$c on the hostile document: exit $st"; head -c 400 "$tmp/err.$c" ;;
  esac
  for stream in out err; do
    # The compare document is data: its strings stay exact, as JSON escapes (DEL, which no
    # terminal acts on, is the one control character JSON leaves as it is).
    pattern=$control
    [ "$c:$stream" = compare-json:out ] && pattern='[\x00-\x08\x0b-\x1f]|\xc2[\x80-\x9f]'
    if LC_ALL=C grep -q -P "$pattern" "$tmp/$stream.$c"; then
      fail "$c on the hostile document: a control character in its std$stream"
      LC_ALL=C grep -n -P "$pattern" "$tmp/$stream.$c" | cat -A | head -3
    fi
  done
done
grep -q 'unknown field' "$tmp/err.refusal" || fail "the hostile field was not refused"
for c in report-svg export-junit; do
  python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$tmp/out.$c" ||
    fail "$c of the hostile document is not well-formed XML"
done
# The CSV keeps one column count; a Markdown table row as many unescaped '|' as its header.
python3 -c '
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
sys.exit(0 if len(rows) > 1 and len({len(r) for r in rows}) == 1 else 1)' "$tmp/out.report-csv" ||
  fail "report-csv of the hostile document: rows differ in columns"
python3 -c '
import re, sys
want = None
for line in open(sys.argv[1], encoding="utf-8"):
    if not line.startswith("|"):
        want = None
        continue
    n = len(re.findall(r"(?<!\\)\|", line.replace("\\\\", "")))
    want = n if want is None else want
    if n != want:
        sys.exit(1)' "$tmp/out.report-md" ||
  fail "report-md of the hostile document: a table row lost its cells"

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "readers: hostile sizes refused, large documents read by every command"
