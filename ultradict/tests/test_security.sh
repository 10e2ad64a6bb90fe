#!/usr/bin/env bash
# test_security.sh - another local user as the attacker, with a real second account.
#
# Creates a throw-away system user, runs the attacker's part as that user (setpriv), and removes
# the user again on exit. Needs root (CI runs as root); without it the test is skipped (77).
# Usage: test_security.sh PATH/TO/ultradict PATH/TO/sec_probe
set -uo pipefail
cli=${1:?usage: test_security.sh ULTRADICT SEC_PROBE}
probe=${2:?usage: test_security.sh ULTRADICT SEC_PROBE}
if [ "$(id -u)" != 0 ]; then
  echo "SKIP: test_security.sh needs root to create a second local user"
  exit 77
fi
for tool in useradd userdel setpriv timeout mkfifo; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing"; exit 77; }
done

user="udsec$$"
tag="sec_$$"
fails=0
cleanup() {
  for f in /dev/shm/"${tag}"*; do [ -e "$f" ] || [ -p "$f" ] && rm -f -- "$f"; done
  userdel "$user" >/dev/null 2>&1 || true
}
trap cleanup EXIT
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" ||
  { echo "FAIL: useradd $user"; exit 1; }
uid=$(id -u "$user") gid=$(id -g "$user")
as_attacker() { setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"; }

check() { # check WHAT COMMAND...: the command must succeed
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

# 10. A squatter pre-creates the victim's name with mode 0666: the victim's default open refuses.
as_attacker "$cli" create "${tag}_squat" --mode 0666 >/dev/null ||
  { echo "FAIL: the attacker could not create a dict"; exit 1; }
out=$("$cli" set "${tag}_squat" secret s3cr3t 2>&1); rc=$?
check "set into another user's 0666 dict is refused (exit $rc)" test "$rc" -ne 0
check "the refusal says why: $out" grep -qi "another user" <<<"$out"
out=$("$cli" get "${tag}_squat" secret 2>&1); rc=$?
check "get from another user's dict is refused (exit $rc)" test "$rc" -ne 0
out=$(as_attacker "$cli" get "${tag}_squat" secret 2>&1); rc=$?
check "nothing of the victim's reached the squatter's dict (exit $rc)" test "$rc" -ne 0
out=$("$probe" attach "${tag}_squat")
check "ud_open(attach) of the squatted name: $out" test "$out" = UD_EFOREIGN
out=$("$probe" attach "${tag}_squat" 0666)
check "ud_open(attach) with an explicit mode 0666 joins it on purpose: $out" test "$out" = OK
as_attacker "$cli" unlink "${tag}_squat" >/dev/null 2>&1
# The victim's own dict, but group-writable: refused by default, accepted with a mode.
"$cli" create "${tag}_grp" --mode 0660 >/dev/null || { echo "FAIL: create"; exit 1; }
out=$("$probe" attach "${tag}_grp")
check "ud_open(attach) of a group-writable dict without a mode: $out" test "$out" = UD_EFOREIGN
out=$("$probe" attach "${tag}_grp" 0660)
check "ud_open(attach) of it with an explicit mode: $out" test "$out" = OK
"$cli" unlink "${tag}_grp" >/dev/null

# 16. The victim's own dict (0600): the attacker's unlink is told EACCES, not a bad magic.
"$cli" create "${tag}_mine" >/dev/null || { echo "FAIL: create"; exit 1; }
out=$(as_attacker "$cli" unlink "${tag}_mine" 2>&1); rc=$?
check "the attacker cannot unlink the victim's dict (exit $rc)" test "$rc" -ne 0
check "and is told it is a permission problem: $out" grep -qi "permission denied" <<<"$out"
out=$(as_attacker "$probe" unlink "${tag}_mine")
check "ud_unlink_by_name by the attacker reports EACCES: $out" test "$out" = EACCES
check "the victim's dict is intact" "$cli" len "${tag}_mine"
"$cli" unlink "${tag}_mine" >/dev/null

# 12. FIFOs planted in /dev/shm (under a dict's name and beside it) hang nothing.
as_attacker mkfifo "/dev/shm/${tag}_fifo" "/dev/shm/${tag}_fifo.stream" "/dev/shm/${tag}_x"
out=$(timeout 20 "$cli" ls 2>&1); rc=$?
check "ultradict ls with planted FIFOs returns (exit $rc)" test "$rc" -ne 124 -a "$rc" -le 2
out=$(timeout 20 "$cli" unlink "${tag}_fifo" 2>&1); rc=$?
check "ultradict unlink of a FIFO returns an error (exit $rc): $out" test "$rc" -ne 124 -a "$rc" -ne 0
out=$(timeout 20 "$cli" get "${tag}_fifo" k 2>&1); rc=$?
check "ultradict get on a FIFO returns an error (exit $rc)" test "$rc" -ne 124 -a "$rc" -ne 0
out=$(timeout 20 "$cli" create "${tag}_fifo" --exist-ok 2>&1); rc=$?
check "ultradict create over a FIFO does not hang (exit $rc)" test "$rc" -ne 124
check "the FIFOs are still FIFOs (nothing wrote through them)" test -p "/dev/shm/${tag}_fifo"

echo "security: $fails failure(s)"
[ "$fails" = 0 ]
