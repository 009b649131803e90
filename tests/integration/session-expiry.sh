#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A holder bound to a session is killed (SIGKILL: no goodbye). Its session
# times out (1 s) and the server releases the lock to the queued waiter,
# long before the 60 s lease would have ended: the waiter gives up after
# 30 s, so a grant at all proves the session, not the lease, ended it.
source "$(dirname "$0")/lib.sh"
lab_start

KEY=it-session
[ -x "$PROBE" ] || fail "latch-probe not built at $PROBE"
sessions0=$(counter lock.sessions_expired)
expired0=$(counter lock.lease_expired)

bg "$TMP/probe.json" "$LAB" exec "$PROBE" --client-id 401 --session-ms 1000 \
	hold $KEY --lease 60000 --until killed
probe_pid=$BG_PID
wait_until 20 jline "$TMP/probe.json" granted >/dev/null ||
	fail "probe not granted: $(cat "$TMP/probe.json" "$TMP/probe.json.err")"
tok_p=$(jget "$(jline "$TMP/probe.json" granted)" token)
say "probe holds with token $tok_p"

ctl_rc out lock query $KEY
assert_eq "$(jget "$out" holder)" 401 "holder before the kill"

bg "$TMP/w.json" "$LAB" exec latchctl --json --client-id 402 \
	lock acquire $KEY --wait 30000 --lease 60000
w_pid=$BG_PID
wait_until 20 waiters_at_least $KEY 1 || fail "W never queued"

kill -KILL "$probe_pid"
wait "$probe_pid" 2>/dev/null || true
say "probe killed"

rc=0
bg_wait "$w_pid" 40 || rc=$?
out=$(tail -n 1 "$TMP/w.json")
assert_eq "$rc" 0 "W's exit status ($out; $(cat "$TMP/w.json.err"))"
assert_eq "$(jget "$out" status)" granted "W after the holder died"
assert_gt "$(jget "$out" token)" "$tok_p" "W's token above the dead holder's"

assert_gt "$(counter lock.sessions_expired)" "$sessions0" "sessions_expired"
assert_eq "$(counter lock.lease_expired)" "$expired0" \
	"lease_expired (the session, not the lease, ended the hold)"
