#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Peer links (docs/cluster.md, "Peer links"): a 3-node lab whose
# dataplanes also have memif links to each other (tools/lab up --links
# memif). Partition replication goes over the links, not the bridge; a
# lock granted at the leader shows on every node; after kill -9 and
# restart of lab1, which serves both its links (the lower id is the memif
# server), the other nodes dial it again, their links come back up and
# carry replication to lab1 again, which sees a new grant. A lab with
# links refuses `partition`, which could not cut them.

source "$(dirname "$0")/lib.sh"

CLIENT=6161

[ -x "$LATCH_BUILD/control/latch-control" ] ||
	{ echo "[$TEST_NAME] SKIP: latch-control not built"; exit 77; }

lab_start --nodes 3 --links memif

# port_field NODE PORT FIELD: FIELD of port PORT in NODE's stats.
port_field() {
	ctl_node "$1" stats | python3 -c '
import json, sys
for p in json.load(sys.stdin)["ports"]:
    if p["name"] == sys.argv[1]:
        print(p[sys.argv[2]])
        sys.exit(0)
sys.exit(1)' "$2" "$3"
}

# links_of NODE: NODE's ports, name and link state, for failure messages.
links_of() {
	ctl_node "$1" stats | python3 -c '
import json, sys
print(sys.argv[1], [(p["name"], p["link"]) for p in json.load(sys.stdin)["ports"]])' "$1"
}

# links_up: every node's peer links are up.
links_up() {
	local k j
	for k in 1 2 3; do
		for j in 1 2 3; do
			[ "$j" -ne "$k" ] || continue
			[ "$(port_field "lab$k" "peer$j" link)" = up ] || return 1
		done
	done
}

# granted_at NODE KEY: NODE grants KEY to CLIENT (token in $token).
granted_at() {
	ctl_node_rc out "$1" --client-id "$CLIENT" --timeout 300 \
		lock acquire "$2" --lease 120000
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = granted ] &&
		token=$(jget "$out" token)
}

# shows_lock NODE KEY: NODE's answer to a query shows KEY held with
# $token.
shows_lock() {
	ctl_node_rc out "$1" --timeout 300 lock query "$2"
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" held)" = true ] &&
		[ "$(jget "$out" token)" = "$token" ]
}

wait_until 30 raft_agreed_by 3 ||
	fail "no agreed leader within 30 s: $("$LAB" status --json)"
wait_until 30 links_up ||
	fail "peer links not all up: $(links_of lab1) $(links_of lab2) $(links_of lab3)"
read -r leader term < <(raft_agreed)
say "leader $leader, term $term; every peer link is up"

out= token=
wait_until 30 granted_at "$leader" links-a || fail "no grant at $leader: $out"
for node in lab1 lab2 lab3; do
	wait_until 15 shows_lock "$node" links-a ||
		fail "$node does not show links-a with token $token: $out"
done
say "links-a granted at $leader (token $token), shown on every node"

# Replication went over the links: every follower received on its link
# to the leader, and the leader sent nothing on its TAP port but the
# answer to latchctl.
k=${leader#lab}
for node in lab1 lab2 lab3; do
	[ "$node" != "$leader" ] || continue
	rx=$(port_field "$node" "peer$k" rx_packets)
	assert_gt "$rx" 0 "$node's packets received on its link to $leader"
done
tap_tx=$(port_field "$leader" tap0 tx_packets)
[ "$tap_tx" -le 10 ] ||
	fail "$leader sent $tap_tx packets on its TAP port: replication" \
		"did not take the links"
say "followers received replication on their links; $leader's TAP sent $tap_tx"

if "$LAB" partition lab2 >"$TMP/part.out" 2>&1; then
	fail "partition accepted in a lab with memif links"
fi
grep -q "memif peer" "$TMP/part.out" ||
	fail "partition's refusal does not say why: $(cat "$TMP/part.out")"

say "kill -9 lab1 (the memif server of both its links), then restart it"
"$LAB" kill lab1 >/dev/null
down_at() {
	[ "$(port_field "$1" peer1 link)" = down ]
}
wait_until 15 down_at lab2 || fail "lab2's link to the dead lab1 stays up"
wait_until 30 raft_agreed_by 2 || fail "no leader after lab1's kill"
"$LAB" restart lab1 >/dev/null
wait_until 30 links_up ||
	fail "links not all up after lab1's restart: $(links_of lab1)" \
		"$(links_of lab2) $(links_of lab3)"
grep -q "peer link peer1 to lab1: up ([1-9][0-9]* dials)" \
	"/run/latch-lab/lab2.log" ||
	fail "lab2 does not log dialling lab1 again"
wait_until 30 raft_agreed_by 3 || fail "lab1 does not rejoin"
read -r leader term < <(raft_agreed)
say "links up again (lab2 and lab3 dialled lab1); leader $leader, term $term"

wait_until 30 granted_at "$leader" links-b || fail "no grant at $leader: $out"
wait_until 30 shows_lock lab1 links-b ||
	fail "lab1 does not show links-b with token $token: $out"
if [ "$leader" != lab1 ]; then
	k=${leader#lab}
	rx=$(port_field lab1 "peer$k" rx_packets)
	assert_gt "$rx" 0 "lab1's packets received on its new link to $leader"
fi
say "links-b (token $token) granted at $leader and shown on lab1"
exit 0
