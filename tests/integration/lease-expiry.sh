#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A holder that does not renew loses its lock when the lease ends: it gets
# a LOST notification (status expired), and the waiter queued behind it is
# granted with a larger token.
#
# Order is made certain without timing: C holds first; the probe (lease
# 300 ms) queues behind C, then W queues behind the probe; C releases. The
# probe is granted, lets its lease run out, and W is next in line.
source "$(dirname "$0")/lib.sh"
lab_start

KEY=it-lease
[ -x "$PROBE" ] || fail "latch-probe not built at $PROBE"
expired0=$(counter lock.lease_expired)

ctl_rc out --client-id 301 lock acquire $KEY --lease 60000
assert_eq "$(jget "$out" status)" granted "C's acquire"
tok_c=$(jget "$out" token)

bg "$TMP/probe.json" "$LAB" exec "$PROBE" --client-id 302 --timeout 60000 \
	hold $KEY --lease 300 --wait 30000
probe_pid=$BG_PID
wait_until 20 waiters_at_least $KEY 1 || fail "the probe never queued"

bg "$TMP/w.json" "$LAB" exec latchctl --json --client-id 303 \
	lock acquire $KEY --wait 30000 --lease 60000
w_pid=$BG_PID
wait_until 20 waiters_at_least $KEY 2 || fail "W never queued"
say "probe and W queued behind C"

ctl_rc out --client-id 301 lock release $KEY --token "$tok_c"
assert_eq "$(jget "$out" status)" released "C's release"

rc=0
bg_wait "$probe_pid" 60 || rc=$?
cat "$TMP/probe.json"
assert_eq "$rc" 0 "probe exit status ($(cat "$TMP/probe.json.err"))"
granted=$(jline "$TMP/probe.json" granted) || fail "probe was never granted"
lost=$(jline "$TMP/probe.json" lost) || fail "probe got no LOST"
tok_p=$(jget "$granted" token)
assert_gt "$tok_p" "$tok_c" "probe's token above C's"
assert_eq "$(jget "$lost" status)" expired "LOST status"
assert_eq "$(jget "$lost" token)" "$tok_p" "LOST names the probe's grant"

rc=0
bg_wait "$w_pid" 40 || rc=$?
out=$(tail -n 1 "$TMP/w.json")
assert_eq "$rc" 0 "W's exit status ($out; $(cat "$TMP/w.json.err"))"
assert_eq "$(jget "$out" status)" granted "W after the probe's lease ended"
assert_gt "$(jget "$out" token)" "$tok_p" "W's token above the probe's"

expired=$(counter lock.lease_expired)
assert_gt "$expired" "$expired0" "lease_expired counter"
