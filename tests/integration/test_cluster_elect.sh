#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A 3-node Raft cluster in the lab (tools/lab up --nodes 3; docs/cluster.md,
# "control plane"): within a bounded poll exactly one leader, and every
# node names it in the same term; `tools/lab leader` and `latchctl cluster
# status --json` agree; a follower refuses a leader transfer naming the
# leader; kill the leader's latch-control and latchd: the two others elect
# a new leader in a higher term; restart it: it follows the new leader.
# On the way: every node's sleeping workers were woken early, by a kick
# and by a replication frame.

source "$(dirname "$0")/lib.sh"

[ -x "$LATCH_BUILD/control/latch-control" ] ||
	{ echo "[$TEST_NAME] SKIP: latch-control not built"; exit 77; }

lab_start --nodes 3

say "one leader, every node agrees on it and on the term"
wait_until 30 raft_agreed_by 3 ||
	fail "no agreed leader within 30 s: $("$LAB" status --json)"
read -r leader term < <(raft_agreed)
say "leader $leader, term $term"
[ "$term" -ge 1 ] || fail "term $term"
assert_eq "$("$LAB" leader)" "$leader" "tools/lab leader"

say "latchctl cluster status --json at each node"
for n in lab1 lab2 lab3; do
	js=$("$LAB" exec --node "$n" latchctl --json \
		--api "/run/latch/$n/control.sock" cluster status) ||
		fail "latchctl cluster status on $n"
	python3 -c '
import json, sys
o = json.loads(sys.argv[1])
assert o["leader"] == sys.argv[2], o
assert o["term"] >= int(sys.argv[3]), o
assert [m["name"] for m in o["members"]][0] == sys.argv[4], o
assert sorted(m["name"] for m in o["members"]) == ["lab1", "lab2", "lab3"], o
assert all(m["role"] == "voter" for m in o["members"]), o
assert o["role"] == ("leader" if sys.argv[2] == sys.argv[4] else "follower"), o
' "$js" "$leader" "$term" "$n" || fail "cluster status on $n: $js"
done

say "sleeping workers are woken by the channel and by replication frames"
# Lab profile: idle = sleep. Views from latch-control kick a sleeping
# worker (dataplane/wake.h); heartbeats and their acks arrive on TAP
# queues whose fds end a sleep (drivers/port.h, port_rx_intr_fd).
for n in lab1 lab2 lab3; do
	js=$(ctl_node "$n" --control "/run/latch/$n/latchd.sock" stats) ||
		fail "latchctl stats on $n"
	assert_gt "$(counter idle_kicked "$js")" 0 "$n: workers kicked awake"
	assert_gt "$(counter idle_rx_woken "$js")" 0 \
		"$n: workers woken by a frame"
done

say "no TAP queue signals latchd for each frame (O_ASYNC off)"
# latchd holds every real-time signal, so the TAP PMD finds none for its
# Rx trigger and leaves O_ASYNC off (docs/design.md, "idle policy"):
# with it on, every frame written to a TAP cost a signal.
"$LAB" status --json >"$TMP/status.json"
for pid in $(python3 -c 'import json,sys
for n in json.load(open(sys.argv[1]))["nodes"]: print(n["pid"])' \
	"$TMP/status.json"); do
	taps=0
	for fd in /proc/"$pid"/fd/*; do
		[ "$(readlink "$fd" 2>/dev/null)" = /dev/net/tun ] || continue
		taps=$((taps + 1))
		flags=$(awk '/^flags:/ { print $2 }' \
			"/proc/$pid/fdinfo/${fd##*/}")
		# O_ASYNC is 020000 (octal) on Linux.
		[ $((8#$flags & 8#20000)) -eq 0 ] ||
			fail "latchd $pid: TAP fd ${fd##*/} has O_ASYNC (flags $flags)"
	done
	assert_gt "$taps" 0 "latchd $pid: TAP queue fds"
done

say "a follower refuses a transfer, naming the leader"
follower=lab1
[ "$leader" != lab1 ] || follower=lab2
rc=0
out=$("$LAB" exec --node "$follower" latchctl \
	--api "/run/latch/$follower/control.sock" cluster transfer lab3 2>&1) ||
	rc=$?
[ "$rc" -ne 0 ] || fail "transfer at follower $follower succeeded: $out"
grep -q "not the leader.*$leader" <<<"$out" || fail "refusal: $out"

say "a follower refuses remove-member too, naming the leader"
rc=0
out=$("$LAB" exec --node "$follower" latchctl \
	--api "/run/latch/$follower/control.sock" cluster remove-member lab3 \
	2>&1) || rc=$?
[ "$rc" -ne 0 ] || fail "remove-member at follower $follower succeeded: $out"
grep -q "not the leader.*$leader" <<<"$out" || fail "remove-member: $out"

say "kill the leader $leader: the others elect a new one in a higher term"
"$LAB" kill "$leader" >/dev/null
wait_until 30 raft_agreed_by 2 ||
	fail "no new leader within 30 s: $("$LAB" status --json)"
read -r leader2 term2 < <(raft_agreed)
say "new leader $leader2, term $term2"
[ "$leader2" != "$leader" ] || fail "the dead $leader still leads"
assert_gt "$term2" "$term" "term after failover"

say "restart $leader: it joins and follows $leader2 (or a later leader)"
"$LAB" restart "$leader" >/dev/null
wait_until 30 raft_agreed_by 3 ||
	fail "restarted $leader did not rejoin: $("$LAB" status --json)"
read -r leader3 term3 < <(raft_agreed)
[ "$term3" -ge "$term2" ] || fail "term went down: $term3 < $term2"
exit 0
