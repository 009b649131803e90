#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Lock state survives the loss of the leader (docs/cluster.md): in a 3-node
# lab cluster, acquire a lock at the leader; a follower does not serve it
# (not_leader naming the leader, or latchctl following that redirect);
# kill -9 the leader (tools/lab kill); a new leader is elected; it holds
# the lock for the same client with the same fencing token; a new acquire
# of another key there gets a larger token.
#
# Exit 77 (meson: skipped) while the dataplane half is not there: latchd
# serves no repl.sock, or the leader's latchd grants nothing.
# test_cluster_elect.sh covers the control plane alone.

source "$(dirname "$0")/lib.sh"

CLIENT=4242
skip() {
	echo "[$TEST_NAME] SKIP: $*"
	exit 77
}

[ -x "$LATCH_BUILD/control/latch-control" ] || skip "latch-control not built"

lab_start --nodes 3

wait_until 30 raft_agreed_by 3 ||
	fail "no agreed leader within 30 s: $("$LAB" status --json)"
read -r leader term < <(raft_agreed)
say "leader $leader, term $term"
[ -S "/run/latch/$leader/repl.sock" ] ||
	skip "latchd serves no repl.sock: the dataplane half of replication is not built"

say "acquire fo-key at $leader (bounded poll: its workers take over first)"
granted() {
	ctl_node_rc out "$leader" --client-id "$CLIENT" --timeout 300 \
		lock acquire fo-key --lease 120000
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = granted ]
}
out=
if ! wait_until 15 granted; then
	skip "the leader's latchd does not grant (last answer: $out)"
fi
token=$(jget "$out" token)
say "granted, token $token"

follower=lab1
[ "$leader" != lab1 ] || follower=lab2
k=${leader#lab}
# A follower answers a query from its own applied state (a replica read,
# docs/protocol.md): it shows the grant once it has applied it, within a
# heartbeat or two.
follower_shows_grant() {
	ctl_node_rc out "$follower" --timeout 300 lock query fo-key
	[ "$(jget "$out" held)" = true ] &&
		[ "$(jget "$out" token)" = "$token" ]
}
wait_until 10 follower_shows_grant ||
	fail "follower $follower never showed the grant with token $token: $out"

say "kill -9 the leader $leader"
"$LAB" kill "$leader" >/dev/null
wait_until 30 raft_agreed_by 2 ||
	fail "no new leader within 30 s: $("$LAB" status --json)"
read -r leader2 term2 < <(raft_agreed)
[ "$leader2" != "$leader" ] || fail "dead $leader still leads"
assert_gt "$term2" "$term" "term after failover"
say "new leader $leader2, term $term2"
# The survivors learned of the death from their kernel (ICMP port
# unreachable to their beacons), not only from a timeout: the quick path
# of docs/cluster.md, "Failure detection".
grep -l "leader node $k refused our beacon" /run/latch-lab/lab*.control.log \
	>/dev/null || fail "no survivor logged the dead leader's refusal"

say "$leader2 holds fo-key for client $CLIENT with token $token"
still_held() {
	ctl_node_rc out "$leader2" --timeout 300 lock query fo-key
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" held)" = true ]
}
wait_until 15 still_held || fail "fo-key not held at $leader2: $out"
assert_eq "$(jget "$out" token)" "$token" "token at $leader2"
assert_eq "$(jget "$out" holder)" "$CLIENT" "holder at $leader2"

say "a new acquire at $leader2 gets a larger token"
ctl_node_rc out "$leader2" --client-id "$CLIENT" --timeout 300 \
	lock acquire fo-key-2 --lease 60000
assert_eq "$(jget "$out" status)" granted "acquire fo-key-2 at $leader2"
assert_gt "$(jget "$out" token)" "$token" "token after failover"
exit 0
