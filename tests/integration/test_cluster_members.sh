#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Adding a fourth node and removing members while traffic flows
# (docs/cluster.md, "Adding and removing members"): a 3-node lab with one
# spare (tools/lab up --nodes 3 --spares 1). A lock is taken before any
# change; two clients keep taking and releasing one lock through the
# cluster all along. lab4 is started and added (learner, then voter); a
# follower is removed (the others keep their leader and term while it
# still runs, then it is stopped); then the leader removes itself (it
# steps down, one of the two left leads). After that: the clients were
# granted again, every grant's token is larger than the one before, no
# two grants' holds overlapped, and the lock taken first is still held
# with its token.

source "$(dirname "$0")/lib.sh"

HOLDER=5151
skip() {
	echo "[$TEST_NAME] SKIP: $*"
	exit 77
}

[ -x "$LATCH_BUILD/control/latch-control" ] || skip "latch-control not built"

lab_start --nodes 3 --spares 1

# api NODE ARGS...: latchctl cluster ARGS at NODE's latch-control.
api() {
	local node=$1
	shift
	"$LAB" exec --node "$node" latchctl --json \
		--api "/run/latch/$node/control.sock" cluster "$@"
}

# role_at NODE MEMBER: MEMBER's role in NODE's configuration.
role_at() {
	api "$1" members 2>/dev/null | python3 -c '
import json, sys
for m in json.load(sys.stdin).get("members", []):
    if m.get("name") == sys.argv[1]:
        print(m.get("role"))' "$2"
}

role_is() {
	[ "$(role_at "$1" "$2")" = "$3" ]
}

# leader_of NODE: the leader NODE's latch-control names, and its term.
leader_of() {
	api "$1" status 2>/dev/null | python3 -c '
import json, sys
o = json.load(sys.stdin)
print(o.get("leader") or "", o.get("term"))'
}

# member_cmd NODE VERB NAME: run a membership change at NODE, retrying
# while the previous one settles ("under way; retry").
member_cmd() {
	local out rc
	rc=0
	out=$(api "$1" "$2" "$3" 2>&1) || rc=$?
	LAST_OUT=$out
	[ "$rc" -eq 0 ] && return 0
	grep -q "retry" <<<"$out" || fail "$2 $3 at $1 refused: $out"
	return 1
}

wait_until 30 raft_agreed_by 3 ||
	fail "no agreed leader within 30 s: $("$LAB" status --json)"
read -r leader term < <(raft_agreed)
say "leader $leader, term $term"
[ -S "/run/latch/$leader/repl.sock" ] ||
	skip "latchd serves no repl.sock: no replication"
[ "$(node_field lab4 state)" = stopped ] || fail "spare lab4 runs before start"
role_is "$leader" lab4 none || fail "lab4 in the initial configuration"

say "a lock taken before any change (client $HOLDER)"
granted() {
	ctl_node_rc out "$leader" --client-id "$HOLDER" --timeout 300 \
		lock acquire mem-held --lease 600000
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = granted ]
}
out=
wait_until 15 granted || skip "the leader's latchd does not grant: $out"
held_token=$(jget "$out" token)
say "mem-held granted, token $held_token"

# client_loop ID: take mem-loop, note the token and the time it was
# granted, release it (noting when the release was sent), again, until
# $TMP/stop exists. Requests go to the node named in $TMP/target; latchctl
# follows a follower's redirect to the leader.
client_loop() {
	local id=$1 target out st tok t1 t2 i
	while [ ! -e "$TMP/stop" ]; do
		target=$(cat "$TMP/target")
		out=$("$LAB" exec --node "$target" latchctl --json \
			--client-id "$id" --timeout 400 lock acquire mem-loop \
			--lease 5000 2>/dev/null) || true
		t1=$(date +%s%N)
		st=$(jget "$out" status)
		[ "$st" = granted ] || continue
		tok=$(jget "$out" token)
		echo "grant $tok $t1"
		for ((i = 0; i < 20; i++)); do
			t2=$(date +%s%N)
			out=$("$LAB" exec --node "$target" latchctl --json \
				--client-id "$id" --timeout 400 lock release \
				mem-loop --token "$tok" 2>/dev/null) || true
			st=$(jget "$out" status)
			if [ "$st" = released ]; then
				echo "release $tok $t2"
				break
			fi
			[ "$st" != not_held ] && [ "$st" != stale_token ] ||
				break
		done
	done
}

# grants: how many grants the clients were told so far.
grants() {
	cat "$TMP"/client-*.log 2>/dev/null | grep -c '^grant ' || true
}

grants_beyond() {
	[ "$(grants)" -gt "$1" ]
}

follower=lab1
[ "$leader" != lab1 ] || follower=lab2
other=lab3
[ "$leader" != lab3 ] && [ "$follower" != lab3 ] || other=lab2
[ "$leader" != "$other" ] || other=lab1
echo "$other" >"$TMP/target"
bg "$TMP/client-1.log" client_loop 7001
bg "$TMP/client-2.log" client_loop 7002
wait_until 30 grants_beyond 2 || fail "the clients got no grant"
say "clients running ($(grants) grants so far)"

say "start the spare lab4 and add it"
"$LAB" start lab4 >/dev/null
wait_until 60 member_cmd "$leader" add-member lab4 ||
	fail "add-member lab4: $LAST_OUT"
grep -q '"learner"' <<<"$LAST_OUT" || fail "add-member answer: $LAST_OUT"
wait_until 60 role_is "$leader" lab4 voter ||
	fail "lab4 never became a voter: $(api "$leader" members)"
wait_until 30 raft_agreed_by 4 ||
	fail "lab4 does not follow: $("$LAB" status --json)"
read -r leader2 term2 < <(raft_agreed)
say "lab4 is a voter; leader $leader2, term $term2"
[ "$leader2" = "$leader" ] || say "(leadership moved to $leader2)"
leader=$leader2
n=$(grants)
wait_until 30 grants_beyond "$n" || fail "no grant after adding lab4"

# Pick again (the leader may have moved): a follower to remove, and a
# node that stays, for the clients, that is not the leader either.
follower=
for f in lab1 lab2 lab3; do
	if [ "$f" != "$leader" ] && [ "$f" != "$other" ]; then
		follower=$f
	fi
done
if [ "$other" = "$leader" ]; then
	other=lab4
	echo "$other" >"$TMP/target"
fi
say "remove the follower $follower at $leader"
wait_until 60 member_cmd "$leader" remove-member "$follower" ||
	fail "remove-member $follower: $LAST_OUT"
grep -q '"removed"' <<<"$LAST_OUT" || fail "remove answer: $LAST_OUT"
for n in "$leader" "$other" lab4; do
	wait_until 30 role_is "$n" "$follower" none ||
		fail "$n still has $follower: $(api "$n" members)"
done
say "$follower is out; it still runs: the others keep leader and term"
read -r l t < <(leader_of "$leader")
end=$((SECONDS + 3))
while ((SECONDS < end)); do
	read -r l2 t2 < <(leader_of "$leader")
	[ "$l2" = "$l" ] && [ "$t2" = "$t" ] ||
		fail "removed $follower disrupted: leader $l2 term $t2 (was $l $t)"
	sleep 0.3
done
"$LAB" kill "$follower" >/dev/null
n=$(grants)
wait_until 30 grants_beyond "$n" || fail "no grant after removing $follower"

say "the leader $leader removes itself"
[ "$other" != "$leader" ] || fail "client target is the leader"
wait_until 60 member_cmd "$leader" remove-member "$leader" ||
	fail "remove-member $leader: $LAST_OUT"
new_leader() {
	local l t
	read -r l t < <(leader_of "$other")
	[ -n "$l" ] && [ "$l" != "$leader" ] && [ -n "$t" ] &&
		[ "$t" -gt "$term2" ] && role_is "$l" "$leader" none
}
wait_until 30 new_leader ||
	fail "no new leader without $leader: $(api "$other" status)"
read -r leader3 term3 < <(leader_of "$other")
say "new leader $leader3, term $term3"
js=$(api "$leader" status)
[ "$(jget "$js" role)" != leader ] || fail "$leader still leads: $js"
"$LAB" kill "$leader" >/dev/null
[ "$(role_at "$leader3" lab4)" = voter ] || fail "lab4 not a voter at the end"
n=$(grants)
wait_until 30 grants_beyond "$n" || fail "no grant after the leader left"

touch "$TMP/stop"
for p in "${BG_PIDS[@]}"; do
	bg_wait "$p" 30 || true
done
say "clients: $(grants) grants"

say "every grant's token above the last, no two holds overlapping"
python3 - "$TMP"/client-*.log <<'EOF' || fail "client histories"
import sys
grants = {}  # token -> [client, granted_ns, released_ns or None]
for client, path in enumerate(sys.argv[1:]):
    for line in open(path):
        w = line.split()
        if len(w) != 3:
            continue
        tok, t = int(w[1]), int(w[2])
        if w[0] == "grant":
            if tok in grants and grants[tok][0] != client:
                sys.exit("token %d granted to two clients" % tok)
            grants.setdefault(tok, [client, t, None])
        elif w[0] == "release" and tok in grants:
            grants[tok][2] = t
seq = sorted(grants.items(), key=lambda kv: kv[1][1])
for (ta, a), (tb, b) in zip(seq, seq[1:]):
    if tb <= ta:
        sys.exit("token %d granted after token %d" % (tb, ta))
    if a[2] is not None and b[1] < a[2]:
        sys.exit("token %d granted while token %d was held" % (tb, ta))
print("%d grants, tokens %d..%d" % (len(seq), seq[0][0], seq[-1][0]))
EOF

say "mem-held is still held by $HOLDER with token $held_token"
for n in "$leader3" "$other" lab4; do
	still_held() {
		ctl_node_rc out "$n" --timeout 300 lock query mem-held
		[ "$(jget "$out" held)" = true ] &&
			[ "$(jget "$out" token)" = "$held_token" ]
	}
	wait_until 15 still_held || fail "mem-held at $n: $out"
	assert_eq "$(jget "$out" holder)" "$HOLDER" "holder at $n"
done
