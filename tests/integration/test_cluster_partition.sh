#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A partitioned leader (issue 6): in a 3-node lab cluster, cut the leader
# off (tools/lab partition: its data and management links down); the two
# others elect a new leader in a higher term; the old leader steps down
# (check-quorum), as its latch-control says through its API socket (a
# Unix socket: it answers while the node is cut off); a lock is acquired
# at the new leader; after tools/lab heal the old leader follows the new
# one and, once caught up, its replica answer to a query shows that lock.

source "$(dirname "$0")/lib.sh"

CLIENT=8181
KEY=part-key

[ -x "$LATCH_BUILD/control/latch-control" ] ||
	{ echo "[$TEST_NAME] SKIP: latch-control not built"; exit 77; }

lab_start --nodes 3

wait_until 30 raft_agreed_by 3 ||
	fail "no agreed leader within 30 s: $("$LAB" status --json)"
read -r old term < <(raft_agreed)
say "leader $old, term $term"
others=()
for node in lab1 lab2 lab3; do
	[ "$node" = "$old" ] || others+=("$node")
done

# api_raft NODE FIELD: FIELD of NODE's `latchctl cluster status`, read
# through its latch-control API socket.
api_raft() {
	"$LAB" exec --node "$1" latchctl --json \
		--api "/run/latch/$1/control.sock" cluster status 2>/dev/null |
		python3 -c '
import json, sys
try:
    v = json.load(sys.stdin).get(sys.argv[1])
except (ValueError, AttributeError):
    sys.exit(1)
print("" if v is None else v)' "$2"
}

say "partition $old"
"$LAB" partition "$old" >/dev/null

# new_leader: both others agree on a leader other than $old in a term
# above $term; prints "LEADER TERM".
new_leader() {
	local a b ta tb
	a=$(node_raft "${others[0]}" leader) && b=$(node_raft "${others[1]}" leader) &&
		ta=$(node_raft "${others[0]}" term) &&
		tb=$(node_raft "${others[1]}" term) || return 1
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$old" ] &&
		[ "$ta" = "$tb" ] && [ "$ta" -gt "$term" ] || return 1
	echo "$a $ta"
}
# node_raft NODE FIELD: FIELD of NODE's raft state in tools/lab status.
node_raft() {
	"$LAB" status --json | python3 -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] == sys.argv[1] and n.get("raft"):
        v = n["raft"].get(sys.argv[2])
        print("" if v is None else v)
        sys.exit(0)
sys.exit(1)' "$1" "$2"
}
wait_until 30 new_leader >/dev/null ||
	fail "the majority elected no new leader within 30 s: $("$LAB" status --json)"
read -r leader2 term2 < <(new_leader)
say "new leader $leader2, term $term2"

say "$old steps down (check-quorum), read through its API socket"
stepped_down() {
	local r
	r=$(api_raft "$old" role) && [ -n "$r" ] && [ "$r" != leader ]
}
wait_until 30 stepped_down ||
	fail "$old still leads while cut off: $(api_raft "$old" role)"
say "$old is $(api_raft "$old" role) in term $(api_raft "$old" term)"

say "acquire $KEY at $leader2"
granted() {
	ctl_node_rc out "$leader2" --client-id "$CLIENT" --timeout 300 \
		lock acquire "$KEY" --lease 120000
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = granted ]
}
out=
wait_until 30 granted || fail "$leader2 does not grant $KEY: $out"
token=$(jget "$out" token)
say "granted, token $token"

say "heal: $old follows $leader2 and catches up"
"$LAB" heal >/dev/null
follows() {
	[ "$(api_raft "$old" leader)" = "$leader2" ] &&
		[ "$(api_raft "$old" role)" = follower ] &&
		[ "$(api_raft "$old" term)" -ge "$term2" ]
}
wait_until 30 follows ||
	fail "$old does not follow $leader2: $(api_raft "$old" role)," \
		"leader $(api_raft "$old" leader)"
shows_lock() {
	ctl_node_rc out "$old" --timeout 300 lock query "$KEY"
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" held)" = true ] &&
		[ "$(jget "$out" holder)" = "$CLIENT" ] &&
		[ "$(jget "$out" token)" = "$token" ]
}
wait_until 30 shows_lock || fail "$old does not show $KEY after heal: $out"
assert_eq "$(jget "$out" replica)" true "replica flag of $old's answer"
assert_eq "$(jget "$out" holders)" 1 "holders at $old"
wait_until 15 raft_agreed_by 3 || fail "the 3 nodes do not agree after heal"
exit 0
