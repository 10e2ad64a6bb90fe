#!/usr/bin/env bash
# test_cli.sh - end-to-end tests of the `ultradict` command-line tool.
#
# Usage: test_cli.sh PATH/TO/ultradict
#
# Every check prints one line ("ok - ..." or "not ok - ..." with details); the last line is
# "N passed, N failed" and the exit status is non-zero when anything failed. Dicts are named
# cli_test_<pid>_<what>, so concurrent runs do not collide, and a trap removes them all.
# SC2010: "ls /dev/shm | grep NAME" is the very check we want (what a user would type).
# SC1003: the single-quoted backslashes below are meant literally.
# shellcheck disable=SC2010,SC1003
set -u

U=${1:?usage: test_cli.sh PATH/TO/ultradict}
if [ ! -x "$U" ]; then
    echo "not an executable: $U" >&2
    exit 2
fi

P=cli_test_$$
TMP=$(mktemp -d "${TMPDIR:-/tmp}/${P}.XXXXXX")
PASSED=0
FAILED=0
BG_PIDS=()

cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    # Names are listed, not globbed: the tool must be able to remove what it made.
    for name in /dev/shm/"$P"_*; do
        [ -e "$name" ] || continue
        name=${name#/dev/shm/}
        "$U" unlink --ignore-missing "${name%%.*}" >/dev/null 2>&1
    done
    # A last resort for segments the tool could not remove (reported as failures above).
    rm -f /dev/shm/"$P"_*
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
    PASSED=$((PASSED + 1))
    echo "ok - $1"
}

not_ok() {
    FAILED=$((FAILED + 1))
    echo "not ok - $1"
    if [ -s "$TMP/err" ]; then
        sed 's/^/#   stderr: /' "$TMP/err" | head -5
    fi
}

# run ARGS...: runs the tool; stdout in $TMP/out, stderr in $TMP/err, status in $RC.
run() {
    "$U" "$@" >"$TMP/out" 2>"$TMP/err"
    RC=$?
}

# status_is DESC STATUS: the last run exited with STATUS.
status_is() {
    if [ "$RC" -eq "$2" ]; then
        ok "$1"
    else
        not_ok "$1 (exit $RC, expected $2)"
    fi
}

# t DESC STATUS ARGS...: runs the tool and checks its exit status.
t() {
    local desc=$1 want=$2
    shift 2
    run "$@"
    status_is "$desc" "$want"
}

# t_in DESC STATUS INPUT_FILE ARGS...: like t, with standard input from a file.
t_in() {
    local desc=$1 want=$2 input=$3
    shift 3
    "$U" "$@" <"$input" >"$TMP/out" 2>"$TMP/err"
    RC=$?
    status_is "$desc" "$want"
}

# stream_is out|err DESC EXPECTED: the last run's stdout or stderr is exactly EXPECTED (a
# trailing newline aside); stream_has out|err DESC REGEX: it matches REGEX.
stream_is() {
    local got name=stdout
    [ "$1" = err ] && name=stderr
    got=$(cat "$TMP/$1")
    if [ "$got" = "$3" ]; then
        ok "$2"
    else
        not_ok "$2 ($name '$got', expected '$3')"
    fi
}

stream_has() {
    local name=stdout
    [ "$1" = err ] && name=stderr
    if grep -Eq -- "$3" "$TMP/$1"; then
        ok "$2"
    else
        not_ok "$2 ($name lacks /$3/: $(head -c 300 "$TMP/$1"))"
    fi
}

# out_is DESC EXPECTED / out_has DESC REGEX / err_is DESC EXACT / err_has DESC REGEX
out_is() { stream_is out "$@"; }
out_has() { stream_has out "$@"; }
err_is() { stream_is err "$@"; }
err_has() { stream_has err "$@"; }

# check DESC COMMAND...: any shell command as a check.
check() {
    local desc=$1
    shift
    : >"$TMP/err"
    if "$@"; then
        ok "$desc"
    else
        not_ok "$desc"
    fi
}

# shm_count NAME: how many segments of dict NAME are in /dev/shm (the name itself or NAME.*).
shm_count() {
    ls /dev/shm | grep -cE "^$1(\.|\$)"
}

valid_json() {
    python3 -c 'import json, sys; json.load(sys.stdin)' <"$TMP/out" 2>/dev/null
}

D=${P}_main

echo "# tool: $U"

# ---- global options and usage errors ----
t "--help succeeds" 0 --help
out_has "--help lists the commands" "^  watch +Wait"
for cmd in create get set del incr len keys items status dump load watch save restore unlink ls; do
    t "$cmd --help succeeds" 0 "$cmd" --help
    out_has "$cmd --help shows its usage" "^Usage: ultradict $cmd "
done
t "help CMD succeeds" 0 help get
t "--version succeeds" 0 --version
out_has "--version prints the version" "^ultradict [0-9]+\.[0-9]+\.[0-9]+$"
t "no arguments is a usage error" 2
t "an unknown command is a usage error" 2 frobnicate
err_has "an unknown command is named" "unknown command 'frobnicate'"
t "an unknown global option is a usage error" 2 --frob
t "an unknown command option is a usage error" 2 get "$D" k --frob
err_has "the unknown option is named" "unknown option '--frob'"
err_has "a usage error gives a hint" "Try 'ultradict get --help'"
t "an unknown short option is a usage error" 2 len "$D" -z
t "a missing operand is a usage error" 2 get "$D"
t "an extra operand is a usage error" 2 len "$D" extra
t "an argument to a flag is a usage error" 2 get --newline=yes "$D" k
t "a missing option argument is a usage error" 2 watch "$D" --timeout

# ---- create ----
t "create a dict" 0 create "$D"
check "create leaves the dict in /dev/shm" test "$(shm_count "$D")" -ge 1
t "create an existing dict fails" 1 create "$D"
err_is "create reports the existing dict" "ultradict: $D: a dict with this name already exists"
t "create --exist-ok on an existing dict succeeds" 0 create "$D" --exist-ok
# A name whose creator is inside ud_open() (or died there under a second ago): try again.
: >/dev/shm/"${P}_young"
t "create on a name being created fails" 1 create "${P}_young"
err_is "create says to try again" \
    "ultradict: ${P}_young: the dict is being created or half-created; try again in a second"
t "unlink on a name being created fails" 1 unlink "${P}_young"
err_is "unlink says to try again" \
    "ultradict: ${P}_young: the dict is being created or half-created; try again in a second"
touch -d '5 seconds ago' /dev/shm/"${P}_young"
t "unlink removes it once its creator is known dead" 0 unlink "${P}_young"
t "create with garbage for a size" 2 create "${P}_bad" --buffer-size 12Q
err_has "a bad size is quoted" "invalid size '12Q'"
t "create with a negative size" 2 create "${P}_bad" --buffer-size -4096
err_has "a negative size is refused" "is negative"
t "create with an overflowing size" 2 create "${P}_bad" --buffer-size 99999999999999999999
t "create with an overflowing suffixed size" 2 create "${P}_bad" --buffer-size=17179869184G
err_has "an overflowing size is refused" "is too large"
t "create with a buffer below 4K" 2 create "${P}_bad" --buffer-size 100
t "create with an unknown lock" 2 create "${P}_bad" --lock bogus
t "create with a bad mode" 2 create "${P}_bad" --mode 999
t "create with an invalid name" 1 create "bad/name"
err_has "an invalid name is reported" "invalid dict name"
t "create with an empty name" 1 create ""
check "usage errors created nothing" test "$(shm_count "${P}_bad")" -eq 0
t "create with every option" 0 create "${P}_opts" --buffer-size 64K --full-dump-size 1M \
    --lock spin --recurse --mode 0640
check "segments get the requested mode" test "$(stat -c %a /dev/shm/"${P}_opts")" = 640
check "segments are 0600 by default" test "$(stat -c %a /dev/shm/"$D")" = 600
t "create --exist-ok with a different lock" 1 create "$D" --exist-ok --lock spin
err_has "mismatched options are reported" "do not match"
t "create without a name prints a random one" 0 create
RANDOM_NAME=$(cat "$TMP/out")
check "the random name is valid" test -n "$RANDOM_NAME"
t "the random dict can be unlinked" 0 unlink "$RANDOM_NAME"

# ---- set, get ----
t "set a value" 0 set "$D" greeting hello
t "get the value" 0 get "$D" greeting
out_is "get prints the value" "hello"
check "get adds no newline" test "$(wc -c <"$TMP/out")" -eq 5
t "get --newline" 0 get "$D" greeting --newline
check "get --newline adds one newline" test "$(wc -c <"$TMP/out")" -eq 6
t "set a value that looks like an option after --" 0 set "$D" dash -- -x
t "get that value" 0 get "$D" dash
out_is "the dashed value round-trips" "-x"
t "overwrite a value" 0 set "$D" greeting bonjour
t "get the new value" 0 get "$D" greeting
out_is "the new value is seen" "bonjour"
t "get a missing key" 1 get "$D" nokey
err_is "a missing key says so" "ultradict: nokey: key not found"
t "get from a missing dict" 1 get "${P}_none" k
err_is "a missing dict says so" "ultradict: ${P}_none: no dict with this name"
check "get on a missing dict created nothing" test "$(shm_count "${P}_none")" -eq 0
t "set on a missing dict" 1 set "${P}_none" k v
t "get with an invalid name" 1 get "bad name" k
head -c 70000 /dev/zero | tr '\0' k >"$TMP/longkey"
t "a key over UD_KEY_MAX is refused" 1 set "$D" "$(cat "$TMP/longkey")" v
err_has "a long key is reported as too large" "too large"

# ---- binary values through stdin ----
printf 'a\0b\0\0c\n\377\\x00' >"$TMP/bin"
t_in "set a binary value from stdin" 0 "$TMP/bin" set "$D" bin
t "get the binary value" 0 get "$D" bin
check "NUL bytes round-trip (cmp)" cmp -s "$TMP/bin" "$TMP/out"
t_in "set a binary value with -" 0 "$TMP/bin" set "$D" bin2 -
t "get the second binary value" 0 get "$D" bin2
check "the value from - round-trips (cmp)" cmp -s "$TMP/bin" "$TMP/out"
head -c 300000 /dev/urandom >"$TMP/big"
t_in "set a 300 KB random value" 0 "$TMP/big" set "$D" big
t "get the large value" 0 get "$D" big
check "the large value round-trips (cmp)" cmp -s "$TMP/big" "$TMP/out"
t_in "set an empty value" 0 /dev/null set "$D" empty
t "get the empty value" 0 get "$D" empty
check "the empty value is empty" test ! -s "$TMP/out"
t "del the large value" 0 del "$D" big

# ---- del ----
t "set a key to delete" 0 set "$D" gone x
t "del a key" 0 del "$D" gone
t "the deleted key is gone" 1 get "$D" gone
t "del a missing key" 1 del "$D" gone
err_is "del reports a missing key" "ultradict: gone: key not found"
t "del --ignore-missing" 0 del "$D" gone --ignore-missing
t "del from a missing dict" 1 del "${P}_none" k

# ---- incr ----
t "incr a missing key" 0 incr "$D" n
out_is "incr counts from 0" "1"
t "incr by 41" 0 incr "$D" n 41
out_is "incr adds" "42"
t "incr by a negative number" 0 incr "$D" n -50
out_is "incr subtracts" "-8"
t "get the counter" 0 get "$D" n
out_is "the counter is decimal ASCII" "-8"
t "incr by garbage" 2 incr "$D" n abc
t "incr by an overflowing number" 2 incr "$D" n 99999999999999999999
t "incr by an empty string" 2 incr "$D" n ""
t "incr a value that is not a number" 1 incr "$D" greeting
err_is "incr says why" "ultradict: greeting: the value is not a decimal integer"
t "set the counter to INT64_MAX" 0 set "$D" max 9223372036854775807
t "incr past INT64_MAX" 1 incr "$D" max
err_has "incr reports the overflow" "overflow"
t "the overflowed counter is unchanged" 0 get "$D" max
out_is "the counter kept its value" "9223372036854775807"
t "del the counter" 0 del "$D" max

# ---- len, keys, items ----
L=${P}_list
t "create a dict to list" 0 create "$L"
t "len of an empty dict" 0 len "$L"
out_is "an empty dict has 0 entries" "0"
t "keys of an empty dict" 0 keys "$L"
out_is "an empty dict has no keys" ""
t "items --json of an empty dict" 0 items "$L" --json
out_is "an empty dict is {}" "{}"
t "set a" 0 set "$L" a 1
t "set b" 0 set "$L" b "two words"
printf 'v\tx\n' >"$TMP/tabval"
t_in "set a key with control bytes" 0 "$TMP/tabval" set "$L" "$(printf 'c\tk')"
t "set a key with a quote and a backslash" 0 set "$L" 'q"\' 'é'
t "len" 0 len "$L"
out_is "len counts the entries" "4"
t "keys" 0 keys "$L"
out_is "keys are listed in insertion order, escaped" "$(printf 'a\nb\nc\\x09k\nq"\\\\')"
t "items" 0 items "$L"
out_is "items are KEY<TAB>VALUE, escaped" \
    "$(printf 'a\t1\nb\ttwo words\nc\\x09k\tv\\x09x\\x0a\nq"\\\\\t\303\251')"
t "items --raw" 0 items "$L" --raw
printf 'a\t1\nb\ttwo words\nc\tk\tv\tx\n\nq"\\\t\303\251\n' >"$TMP/raw_expected"
check "items --raw writes the bytes as they are" cmp -s "$TMP/raw_expected" "$TMP/out"
t "keys --json" 0 keys "$L" --json
out_is "keys --json is a JSON array" '["a","b","c\tk","q\"\\"]'
check "keys --json parses" valid_json
t "items --json" 0 items "$L" --json
out_is "items --json is a JSON object" '{"a":"1","b":"two words","c\tk":"v\tx\n","q\"\\":"é"}'
check "items --json parses" valid_json
t "set a value that is not UTF-8" 0 set "$L" bad "$(printf '\377\001')"
t "items --json with bytes that are not UTF-8" 0 items "$L" --json
check "non-UTF-8 bytes still give valid JSON" valid_json
out_has "non-UTF-8 bytes are \\u00NN" '"bad":"\\u00ff\\u0001"'
t "--raw with --json is a usage error" 2 items "$L" --raw --json
t "keys of a missing dict" 1 keys "${P}_none"
t "len of a missing dict" 1 len "${P}_none"
t "items of a missing dict" 1 items "${P}_none"

# ---- status, dump, load ----
t "status" 0 status "$D"
out_has "status names the dict" "$D"
t "dump" 0 dump "$D"
t "load" 0 load "$D"
t "load --force" 0 load "$D" --force
t "the data survives a dump" 0 get "$D" greeting
out_is "the value is intact after the dump" "bonjour"
t "status of a missing dict" 1 status "${P}_none"
t "dump of a missing dict" 1 dump "${P}_none"
t "load of a missing dict" 1 load "${P}_none"

# ---- save, restore ----
C=${P}_copy
t "save" 0 save "$D" "$TMP/snap"
check "save wrote a file" test -s "$TMP/snap"
t "save to a directory that does not exist" 1 save "$D" "$TMP/nodir/snap"
t "save a missing dict" 1 save "${P}_none" "$TMP/none.snap"
check "saving a missing dict wrote nothing" test ! -e "$TMP/none.snap"
t "restore into a missing dict creates it" 0 restore "$C" "$TMP/snap"
check "the restored dict stays in /dev/shm" test "$(shm_count "$C")" -ge 1
run items "$D" --raw
cp "$TMP/out" "$TMP/items_orig"
t "items of the restored dict" 0 items "$C" --raw
check "the restored dict has the same items (cmp)" cmp -s "$TMP/items_orig" "$TMP/out"
t "get the binary value from the copy" 0 get "$C" bin
check "binary values survive save/restore (cmp)" cmp -s "$TMP/bin" "$TMP/out"
t "change the copy" 0 set "$C" extra 1
t "restore into an existing dict" 0 restore "$C" "$TMP/snap"
t "restore replaced the contents" 1 get "$C" extra
t "save to standard output" 0 save "$D" -
cp "$TMP/out" "$TMP/snap_stdout"
t_in "restore from standard input" 0 "$TMP/snap_stdout" restore "${P}_stdin" -
run items "${P}_stdin" --raw
check "a snapshot through a pipe round-trips" cmp -s "$TMP/items_orig" "$TMP/out"
printf 'this is not a snapshot' >"$TMP/garbage"
t "restore from a garbage file" 1 restore "${P}_garbage" "$TMP/garbage"
check "a failed restore creates no dict" test "$(shm_count "${P}_garbage")" -eq 0
head -c 100 "$TMP/snap" >"$TMP/truncated"
t "restore from a truncated snapshot" 1 restore "$C" "$TMP/truncated"
t "the copy is intact after a failed restore" 0 get "$C" greeting
out_is "a failed restore changed nothing" "bonjour"
t "restore from a missing file" 1 restore "${P}_nofile" "$TMP/missing"
err_has "a missing file is reported" "No such file"
check "a missing file creates no dict" test "$(shm_count "${P}_nofile")" -eq 0

# ---- save, restore through a backend (SQLite: embedded, always there) ----
DB="sqlite:$TMP/snap.db"
t "save to a backend URI" 0 save "$D" "$DB"
out_has "save reports the entries and checksum" "^saved [0-9]+ entries .* checksum [0-9a-f]{16}\) to sqlite:"
t "restore from a backend URI into a new dict" 0 restore "${P}_kv" "$DB" --prefix "ultradict/$D/"
run items "${P}_kv" --raw
check "a snapshot through a backend round-trips" cmp -s "$TMP/items_orig" "$TMP/out"
t "restore under a prefix with no snapshot" 1 restore "${P}_kvnone" "$DB"
err_has "a missing snapshot is reported" "no snapshot under"
check "restoring nothing creates no dict" test "$(shm_count "${P}_kvnone")" -eq 0
t "save under an explicit prefix" 0 save "$D" "$DB" --prefix "other/"
t "restore from the explicit prefix" 0 restore "${P}_kv" "$DB" --prefix "other/"
t "--prefix with a file is a usage error" 2 save "$D" "$TMP/snap" --prefix x/
t "save to an unknown scheme" 1 save "$D" "nosuch://x"
err_has "an unknown scheme is named" "unknown URI scheme"
t "save to a server that is not there" 1 save "$D" "redis://127.0.0.1:1"
err_has "the refused connection is reported" "cannot connect"

# ---- watch ----
t "watch times out without a change" 3 watch "$D" --timeout 0.3
err_has "watch says it timed out" "no change within 0.3 seconds"
START=$(date +%s%N)
t "watch --count times out without a change" 3 watch "$D" --timeout 0.2 --count 1
ELAPSED_MS=$((($(date +%s%N) - START) / 1000000))
check "watch waited for its timeout ($ELAPSED_MS ms)" test "$ELAPSED_MS" -ge 150
(sleep 0.5 && "$U" set "$D" watched 1) &
BG_PIDS+=($!)
t "watch sees a change from another process" 0 watch "$D" --count 1 --timeout 10
out_has "watch prints the change" "^change=1 len=[0-9]+ end=[0-9]+"
(sleep 0.3 && "$U" set "$D" w1 1 && sleep 0.3 && "$U" set "$D" w2 2) &
BG_PIDS+=($!)
t "watch --count 2 sees two changes" 0 watch "$D" --count 2 --timeout 10
check "watch printed two lines" test "$(wc -l <"$TMP/out")" -eq 2
(sleep 0.3 && "$U" set "$D" w3 3) &
BG_PIDS+=($!)
t "watch --timeout without --count exits 0 after a change" 0 watch "$D" --timeout 1.5
t "watch a missing dict" 1 watch "${P}_none" --timeout 1
t "watch with a bad timeout" 2 watch "$D" --timeout abc
t "watch with a negative timeout" 2 watch "$D" --timeout -1
t "watch with a bad count" 2 watch "$D" --count 1.5
# Numbers documented as decimal take no other base: strtod() alone read 0x10 as 16 seconds.
for bad in 0x10 0X1p4 1e3 inf nan " 5" +5 5s 1.2.3 . ""; do
    t "watch rejects the timeout '$bad'" 2 watch "$D" --timeout "$bad"
done
t "watch rejects a hexadecimal timeout" 2 watch "$D" --timeout 0x10
err_has "the error names the timeout and the expected form" "--timeout: invalid duration '0x10' \\(expected decimal seconds"
t "watch takes a timeout of '.25'" 3 watch "$D" --timeout .25
t "watch rejects a hexadecimal count" 2 watch "$D" --count 0x10
t "incr rejects a hexadecimal BY" 2 incr "$D" hexby 0x10
t "create rejects a hexadecimal buffer size" 2 create "${P}_hex" --buffer-size 0x1000
wait

# ---- ls ----
t "ls" 0 ls
out_has "ls has a header" "^NAME +SEGMENTS +BYTES +ENTRIES +CREATOR +ALIVE +ATTACHED +FLAGS"
out_has "ls shows the dict" "^$D "
out_has "a dict whose creator exited shows as an orphan" "^$D .*ORPHANED"
t "ls --json" 0 ls --json
check "ls --json parses" valid_json
out_has "ls --json marks the orphan" "\"name\":\"$D\",.*\"orphaned\":true"
t "ls --all" 0 ls --all
t "ls with an operand is a usage error" 2 ls extra
# A process attached to the dict (a watch) makes it no longer an orphan.
"$U" watch "$L" --timeout 20 >/dev/null 2>&1 &
WATCH_PID=$!
BG_PIDS+=("$WATCH_PID")
# Wait (at most 5 s) until the watcher shows as attached, so that a slow start does not count.
for _ in $(seq 50); do
    run ls
    grep -Eq "^$L +[0-9]+ +[^ ]+ +[0-9]+ +[0-9]+ +[a-z]+ +[1-9]" "$TMP/out" && break
    sleep 0.1
done
t "ls while a process is attached" 0 ls
out_has "ls counts the attached process" "^$L +[0-9]+ +[^ ]+ +[0-9]+ +[0-9]+ +[a-z]+ +1 "
if grep -E "^$L " "$TMP/out" | grep -q ORPHANED; then
    not_ok "a dict with a live attached process is not an orphan ($(grep -E "^$L " "$TMP/out"))"
else
    ok "a dict with a live attached process is not an orphan"
fi
kill "$WATCH_PID" 2>/dev/null
wait "$WATCH_PID" 2>/dev/null
# A dict whose control segment was overwritten is shown as damaged, and never crashes anything.
t "create a dict to damage" 0 create "${P}_dmg"
printf 'garbage!' | dd of=/dev/shm/"${P}_dmg" bs=8 count=1 conv=notrunc 2>/dev/null
t "ls with a damaged dict" 0 ls
out_has "a damaged dict is flagged" "^${P}_dmg .*DAMAGED\(UD_E[A-Z]+\)"
t "get from a damaged dict fails cleanly" 1 get "${P}_dmg" k
err_has "the damage is reported" "not an UltraDict segment"
t "status of a damaged dict fails cleanly" 1 status "${P}_dmg"
t "unlink removes a damaged dict" 0 unlink "${P}_dmg"
check "nothing is left of the damaged dict" test "$(shm_count "${P}_dmg")" -eq 0

# ---- unlink ----
check "the dict has segments before unlink" test "$(shm_count "$D")" -ge 1
t "unlink" 0 unlink "$D"
check "unlink leaves nothing in /dev/shm (ls /dev/shm | grep)" \
    test -z "$(ls /dev/shm | grep -- "$D")"
t "get after unlink" 1 get "$D" greeting
t "unlink again" 1 unlink "$D"
err_is "unlink reports a missing dict" "ultradict: $D: no dict with this name"
t "unlink --ignore-missing" 0 unlink "$D" --ignore-missing
t "unlink with an invalid name" 1 unlink "bad/name"
echo "not a dict" >/dev/shm/"${P}_foreign.c1"
t "unlink of a name that is no dict" 1 unlink "${P}_foreign"
check "unlink leaves other files named NAME.* alone" test -e /dev/shm/"${P}_foreign.c1"
rm -f /dev/shm/"${P}_foreign.c1"
t "unlink a recursive dict" 0 unlink "${P}_opts"
check "the recursive dict left nothing" test -z "$(ls /dev/shm | grep -- "${P}_opts")"
t "unlink several dicts" 0 unlink "$L" "$C" "${P}_stdin"
check "every listed dict is gone" test -z "$(ls /dev/shm | grep -E -- "$L|$C|${P}_stdin")"

# ---- robustness: odd input never crashes the tool ----
CRASHES=0
no_crash() {
    "$U" "$@" </dev/null >/dev/null 2>&1
    local st=$?
    if [ "$st" -ge 128 ]; then
        CRASHES=$((CRASHES + 1))
        echo "# crashed (status $st): ultradict $*"
    fi
}
N=${P}_none
no_crash ""
no_crash get "" ""
no_crash set "" "" ""
no_crash get -- -- --
no_crash -
no_crash --
no_crash help nosuch
no_crash create --mode ""
no_crash create --buffer-size ""
no_crash create --buffer-size K
no_crash create --buffer-size 1KK
no_crash create "$N" --buffer-size 18446744073709551615
no_crash watch "$N" --timeout 1e999
no_crash watch "$N" --timeout .5e
no_crash watch "$N" --count 18446744073709551616
no_crash incr "$N" k -9223372036854775808
no_crash incr "$N" k 9223372036854775808
no_crash get "$(head -c 300 /dev/zero | tr '\0' a)" k
no_crash get "$(printf 'a\033[2Jb')" k
no_crash ls --al
no_crash get --n "$N" k
no_crash restore "$N" /
no_crash save "$N" ""
check "odd command lines never crash the tool" test "$CRASHES" -eq 0
check "odd command lines created nothing" test "$(shm_count "$N")" -eq 0
if [ -w /dev/full ]; then
    "$U" --version >/dev/full 2>"$TMP/err"
    RC=$?
    if [ "$RC" -eq 1 ]; then
        ok "a write error (/dev/full) fails with status 1"
    else
        not_ok "a write error (/dev/full) (exit $RC, expected 1)"
    fi
fi

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
