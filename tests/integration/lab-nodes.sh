#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The several-node lab (tools/lab up --nodes 3): three latchd behind the
# lab's bridge, each answering on its own address, forming one Raft
# cluster: the leader grants and every node answers with its state (a
# follower redirects); partition and heal a follower; kill and restart a
# follower (fencing tokens keep growing); down leaves nothing behind.
# Leader failover: test_cluster_elect.sh, test_cluster_failover.sh.

source "$(dirname "$0")/lib.sh"

NODES=(lab1 lab2 lab3)
out=

lab_start --nodes 3

say "status: three nodes, all running, each on its own address"
st=$("$LAB" status --json)
python3 -c '
import json, sys
nodes = json.loads(sys.argv[1])["nodes"]
assert [n["name"] for n in nodes] == ["lab1", "lab2", "lab3"], nodes
for k, n in enumerate(nodes, 1):
    assert n["state"] == "running", n
    assert n["addr"] == "198.18.0.%d" % k, n
    assert n["mgmt_addr"] == "198.18.1.%d" % k, n
    assert isinstance(n["pid"], int), n
    assert n["memif"] == "/run/latch/lab%d/memif.sock" % k, n
' "$st" || fail "unexpected status: $st"
pids=()
for n in "${NODES[@]}"; do
	pids+=("$(node_field "$n" pid)")
done

say "one Raft leader; it grants, every node answers with its state"
wait_until 30 raft_agreed_by 3 ||
	fail "no agreed leader within 30 s: $("$LAB" status --json)"
read -r leader _ < <(raft_agreed)
others=()
for n in "${NODES[@]}"; do
	[ "$n" = "$leader" ] || others+=("$n")
done
granted() {
	ctl_node_rc out "$leader" --client-id 7 --timeout 300 \
		lock acquire nodes-key --lease 60000
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = granted ]
}
wait_until 15 granted || fail "leader $leader does not grant: $out"
token=$(jget "$out" token)
# Followers redirect to the leader (latchctl follows NOT_LEADER).
for n in "${NODES[@]}"; do
	ctl_node_rc out "$n" lock query nodes-key
	assert_eq "$CTL_RC" 0 "query on $n"
	assert_eq "$(jget "$out" held)" true "held, asked at $n"
	assert_eq "$(jget "$out" token)" "$token" "token, asked at $n"
done

part=${others[0]}
say "partition follower $part: no answer from it; the others still answer"
"$LAB" partition "$part"
assert_eq "$(node_field "$part" state)" partitioned "$part state"
ctl_node_rc out "$part" --timeout 50 lock query nodes-key
assert_eq "$CTL_RC" 3 "latchctl against partitioned $part (out: $out)"
for n in "$leader" "${others[1]}"; do
	ctl_node_rc out "$n" --timeout 300 lock query nodes-key
	assert_eq "$CTL_RC" 0 "query on $n during the partition"
done

say "heal: $part answers again"
"$LAB" heal
assert_eq "$(node_field "$part" state)" running "$part state after heal"
part_answers() {
	ctl_node "$part" --timeout 100 lock query nodes-key >/dev/null 2>&1
}
wait_until 20 part_answers || fail "$part does not answer after heal"

# running PID: alive and not a zombie (a killed latchd whose parent has
# not reaped it yet holds nothing; tools/lab's pid_gone counts it gone).
running() {
	local st
	kill -0 "$1" 2>/dev/null || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ "$st" != Z ] && [ "$st" != X ]
}

victim=${others[1]}
k=${victim#lab}
say "kill follower $victim: dead; restart: running, the cluster serves on"
"$LAB" kill "$victim"
assert_eq "$(node_field "$victim" state)" dead "$victim state after kill"
running "${pids[$((k - 1))]}" &&
	fail "$victim's latchd (${pids[$((k - 1))]}) still runs"
"$LAB" restart "$victim"
assert_eq "$(node_field "$victim" state)" running "$victim state after restart"
new_pid=$(node_field "$victim" pid)
[ "$new_pid" != "${pids[$((k - 1))]}" ] || fail "$victim kept pid $new_pid"
wait_until 30 raft_agreed_by 3 || fail "$victim did not rejoin"
# Grants asked through the restarted node come from the leader: acquire,
# release, acquire again: the second token is larger.
granted2() {
	ctl_node_rc out "$victim" --client-id 8 --timeout 300 \
		lock acquire nodes-key-2
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = granted ]
}
wait_until 15 granted2 || fail "acquire through $victim: $out"
token2=$(jget "$out" token)
ctl_node_rc out "$victim" --client-id 8 lock release nodes-key-2 \
	--token "$token2"
assert_eq "$(jget "$out" status)" released "release through $victim ($out)"
wait_until 15 granted2 || fail "second acquire through $victim: $out"
assert_gt "$(jget "$out" token)" "$token2" "token after $victim's restart"
pids+=("$new_pid")

say "down: no namespace, bridge, process or run directory left"
"$LAB" down >/dev/null
for ns in latch-lab latch-lab-1 latch-lab-2 latch-lab-3; do
	[ ! -e "/run/netns/$ns" ] || fail "namespace $ns left"
done
ip link show latchbr >/dev/null 2>&1 && fail "bridge latchbr left"
for p in "${pids[@]}"; do
	running "$p" && fail "latchd pid $p still runs"
done
for d in /run/latch-lab /run/latch/lab1 /run/latch/lab2 /run/latch/lab3; do
	[ ! -e "$d" ] || fail "$d left"
done
for n in "${NODES[@]}"; do
	ls /dev/hugepages/latch-"${n}"map_* >/dev/null 2>&1 &&
		fail "hugepage files of latch-$n left"
	[ ! -e "/var/run/dpdk/latch-$n" ] || fail "runtime dir of latch-$n left"
done
exit 0
