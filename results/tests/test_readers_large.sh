#!/usr/bin/env bash
# Every udbench command that reads results documents, on documents made by `rp_tool big`:
# sizes the writer can never produce (more repetitions than --repeat allows, more parameters,
# metrics or backends than any run has) are refused with a one-line error naming the field,
# and large legal documents (many cells) are read, reported, compared, exported and followed
# in history. No timing here: ctest's timeout is the only (generous) bound; the figures are
# in the README's reliability table.
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
refuse reps 65 "reps: 65 repetitions; udbench writes at most 64"
# The issue's 300k repetitions (an 80 MB document): one command suffices, all read alike.
refuse reps 300000 "reps: 300000 repetitions; udbench writes at most 64" report-text
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

if [ "$failures" -gt 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "readers: hostile sizes refused, large documents read by every command"
