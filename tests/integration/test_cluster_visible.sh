#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A lock granted through the leader is visible on every node (issue 6;
# docs/protocol.md, "Replica reads"): in a 3-node lab cluster, acquire a
# key at the leader; `lock query` at each of the 3 nodes eventually shows
# it held by that client with the same fencing token. The followers'
# answers are flagged replica (their applied state, which may lag), the
# leader's is not.

source "$(dirname "$0")/lib.sh"

CLIENT=5151
KEY=vis-key

[ -x "$LATCH_BUILD/control/latch-control" ] ||
	{ echo "[$TEST_NAME] SKIP: latch-control not built"; exit 77; }

lab_start --nodes 3

wait_until 30 raft_agreed_by 3 ||
	fail "no agreed leader within 30 s: $("$LAB" status --json)"
read -r leader term < <(raft_agreed)
say "leader $leader, term $term"

say "acquire $KEY at $leader (bounded poll: its workers take over first)"
granted() {
	ctl_node_rc out "$leader" --client-id "$CLIENT" --timeout 300 \
		lock acquire "$KEY" --lease 120000
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = granted ]
}
out=
wait_until 30 granted || fail "the leader does not grant $KEY: $out"
token=$(jget "$out" token)
[ -n "$token" ] && [ "$token" -gt 0 ] || fail "no token in: $out"
say "granted, token $token"

# shows_lock NODE: NODE's own answer to a query shows the lock of CLIENT
# with TOKEN (for wait_until; the answer is left in $out).
shows_lock() {
	ctl_node_rc out "$1" --timeout 300 lock query "$KEY"
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = ok ] &&
		[ "$(jget "$out" held)" = true ] &&
		[ "$(jget "$out" holder)" = "$CLIENT" ] &&
		[ "$(jget "$out" token)" = "$token" ]
}

for node in lab1 lab2 lab3; do
	wait_until 15 shows_lock "$node" ||
		fail "$node does not show $KEY held by $CLIENT, token $token: $out"
	assert_eq "$(jget "$out" holders)" 1 "holders at $node"
	if [ "$node" = "$leader" ]; then
		assert_eq "$(jget "$out" replica)" false "replica flag at leader"
	else
		assert_eq "$(jget "$out" replica)" true "replica flag at $node"
	fi
	say "$node: held by $CLIENT, token $token, replica $(jget "$out" replica)"
done

say "release at $leader: every node eventually shows $KEY free"
ctl_node_rc out "$leader" --client-id "$CLIENT" --timeout 300 \
	lock release "$KEY" --token "$token"
assert_eq "$CTL_RC" 0 "release at $leader ($out)"
is_free() {
	ctl_node_rc out "$1" --timeout 300 lock query "$KEY"
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" held)" = false ]
}
for node in lab1 lab2 lab3; do
	wait_until 15 is_free "$node" || fail "$KEY still held at $node: $out"
done
exit 0
