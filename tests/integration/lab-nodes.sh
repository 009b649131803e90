#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# The several-node lab (tools/lab up --nodes 3): three latchd behind the
# lab's bridge, each answering on its own address; partition and heal;
# kill and restart (fencing tokens keep growing across the restart); down
# leaves nothing behind.
#
# The nodes are independent for now: there is no replication yet (the
# Raft cluster lands in its own issue), so each node grants the same key on
# its own. When replication lands, that step changes to "a follower
# redirects to the leader".

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

say "each node grants the same key (independent nodes, no replication)"
declare -A token
for n in "${NODES[@]}"; do
	ctl_node_rc out "$n" lock acquire nodes-key --lease 60000
	assert_eq "$CTL_RC" 0 "acquire on $n"
	assert_eq "$(jget "$out" status)" granted "acquire on $n"
	token[$n]=$(jget "$out" token)
done
# A node's own lock table: lab2 sees nodes-key held (by its own grant).
ctl_node_rc out lab2 lock query nodes-key
assert_eq "$(jget "$out" held)" true "query on lab2"
assert_eq "$(jget "$out" token)" "${token[lab2]}" "token seen by lab2"

say "partition lab2: no answer from it; lab1 and lab3 still answer"
"$LAB" partition lab2
assert_eq "$(node_field lab2 state)" partitioned "lab2 state"
ctl_node_rc out lab2 --timeout 50 lock query nodes-key
assert_eq "$CTL_RC" 3 "latchctl against partitioned lab2 (out: $out)"
for n in lab1 lab3; do
	ctl_node_rc out "$n" --timeout 200 lock query nodes-key
	assert_eq "$CTL_RC" 0 "query on $n during the partition"
done

say "heal: lab2 answers again"
"$LAB" heal
assert_eq "$(node_field lab2 state)" running "lab2 state after heal"
lab2_answers() {
	ctl_node lab2 --timeout 100 lock query nodes-key >/dev/null 2>&1
}
wait_until 20 lab2_answers || fail "lab2 does not answer after heal"

say "kill lab3: dead; restart: running, with larger fencing tokens"
"$LAB" kill lab3
assert_eq "$(node_field lab3 state)" dead "lab3 state after kill"
kill -0 "${pids[2]}" 2>/dev/null && fail "lab3's latchd (${pids[2]}) still runs"
"$LAB" restart lab3
assert_eq "$(node_field lab3 state)" running "lab3 state after restart"
new_pid=$(node_field lab3 pid)
[ "$new_pid" != "${pids[2]}" ] || fail "lab3 kept pid $new_pid"
# The lock table died with the process: the key is free again, and the
# new grant's token is larger (the boot epoch advanced).
ctl_node_rc out lab3 lock acquire nodes-key
assert_eq "$CTL_RC" 0 "acquire on restarted lab3 (out: $out)"
assert_eq "$(jget "$out" status)" granted "acquire on restarted lab3"
assert_gt "$(jget "$out" token)" "${token[lab3]}" "token after restart"
for n in lab1 lab2; do
	ctl_node_rc out "$n" lock query nodes-key
	assert_eq "$CTL_RC" 0 "query on $n after lab3's restart"
done
pids+=("$new_pid")

say "down: no namespace, bridge, process or run directory left"
"$LAB" down >/dev/null
for ns in latch-lab latch-lab-1 latch-lab-2 latch-lab-3; do
	[ ! -e "/run/netns/$ns" ] || fail "namespace $ns left"
done
ip link show latchbr >/dev/null 2>&1 && fail "bridge latchbr left"
for p in "${pids[@]}"; do
	kill -0 "$p" 2>/dev/null && fail "latchd pid $p still runs"
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
