#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A waiter queues behind a holder and is granted, with a larger fencing
# token, once the holder releases.
source "$(dirname "$0")/lib.sh"
lab_start

KEY=it-queued

ctl_rc out --client-id 201 lock acquire $KEY --lease 60000
assert_eq "$(jget "$out" status)" granted "A's acquire"
tok_a=$(jget "$out" token)

# B waits for up to 30 s: far longer than this test needs, so a slow
# machine cannot turn the test into a timing test.
bg "$TMP/b.json" "$LAB" exec latchctl --json --client-id 202 \
	lock acquire $KEY --wait 30000 --lease 60000
b_pid=$BG_PID

wait_until 20 waiters_at_least $KEY 1 || fail "B never showed as queued"
kill -0 "$b_pid" 2>/dev/null || fail "B returned while A holds: $(cat "$TMP/b.json")"
say "B is queued"

ctl_rc out --client-id 201 lock release $KEY --token "$tok_a"
assert_eq "$(jget "$out" status)" released "A's release"

rc=0
bg_wait "$b_pid" 40 || rc=$?
out=$(tail -n 1 "$TMP/b.json")
assert_eq "$rc" 0 "B's exit status ($out; $(cat "$TMP/b.json.err"))"
assert_eq "$(jget "$out" status)" granted "B's waiting acquire"
tok_b=$(jget "$out" token)
assert_gt "$tok_b" "$tok_a" "B's token above A's"
say "B granted after A's release, token $tok_b > $tok_a"

ctl_rc out lock query $KEY
assert_eq "$(jget "$out" holder)" 202 "holder after the handover"
[ "$(counter lock.queued)" -ge 1 ] || fail "queued counter not counted"
