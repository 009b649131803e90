#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# A queued waiter across the loss of the leader (issue 6): in a 3-node lab
# cluster a client holds KEY (long lease) at the leader and a second client
# (latch-probe wait) is queued on it; kill -9 the leader; a new leader is
# elected and still shows the holder and the queued waiter; the holder
# releases with its token (through a follower: latchctl follows the
# NOT_LEADER redirect); the waiter is then granted with a larger token.
#
# Every token any client was told for KEY, and every token a query showed,
# goes to a log: tokens strictly increase, and no query ever shows two
# holders of the exclusive KEY.
#
# The waiter's GRANTED comes from the new leader, which inherited the
# queue, not from the node the waiter's liblatch talked to: liblatch takes
# it, ACKs it there and follows that node (docs/protocol.md, "Redirects").
# The grant is checked both in the replicated table and in what the waiter
# process was told.

source "$(dirname "$0")/lib.sh"

HOLDER=7101
WAITER=7102
KEY=wf-key
TOKENS=$TMP/tokens.log # "WHO TOKEN", in the order clients were told
: >"$TOKENS"

[ -x "$LATCH_BUILD/control/latch-control" ] ||
	{ echo "[$TEST_NAME] SKIP: latch-control not built"; exit 77; }

lab_start --nodes 3

wait_until 30 raft_agreed_by 3 ||
	fail "no agreed leader within 30 s: $("$LAB" status --json)"
read -r leader term < <(raft_agreed)
say "leader $leader, term $term"

# observe NODE: query KEY at NODE (its own answer, replica or not) into
# $out; fail if it ever shows more than one holder; log a shown token.
observe() {
	local h
	ctl_node_rc out "$1" --timeout 300 lock query "$KEY"
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = ok ] || return 1
	h=$(jget "$out" holders)
	[ "${h:-0}" -le 1 ] || fail "two holders of $KEY at $1: $out"
	if [ "$(jget "$out" held)" = true ]; then
		echo "query@$1 $(jget "$out" token)" >>"$TOKENS.seen"
	fi
	return 0
}

say "$HOLDER acquires $KEY at $leader"
granted() {
	ctl_node_rc out "$leader" --client-id "$HOLDER" --timeout 300 \
		lock acquire "$KEY" --lease 120000
	[ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = granted ]
}
out=
wait_until 30 granted || fail "the leader does not grant $KEY: $out"
t1=$(jget "$out" token)
echo "holder $t1" >>"$TOKENS"
say "granted to $HOLDER, token $t1"

say "$WAITER queues on $KEY at $leader (latch-probe wait, in the background)"
bg "$TMP/waiter.out" "$LAB" exec --node "$leader" "$PROBE" \
	--client-id "$WAITER" --no-session --timeout 60000 \
	wait "$KEY" --wait 120000 --lease 60000
waiter_pid=$BG_PID
queued_at() {
	observe "$1" && [ "$(jget "$out" waiters)" -ge 1 ] &&
		[ "$(jget "$out" holder)" = "$HOLDER" ]
}
wait_until 15 queued_at "$leader" || fail "$WAITER not queued at $leader: $out"
# The queue is replicated: the followers see it too (eventually).
for node in lab1 lab2 lab3; do
	[ "$node" = "$leader" ] && continue
	wait_until 15 queued_at "$node" ||
		fail "$WAITER's wait not replicated to $node: $out"
done
kill -0 "$waiter_pid" 2>/dev/null ||
	fail "the waiter exited before the failover: $(cat "$TMP/waiter.out"*)"

say "kill -9 the leader $leader"
"$LAB" kill "$leader" >/dev/null
wait_until 30 raft_agreed_by 2 ||
	fail "no new leader within 30 s: $("$LAB" status --json)"
read -r leader2 term2 < <(raft_agreed)
[ "$leader2" != "$leader" ] || fail "dead $leader still leads"
assert_gt "$term2" "$term" "term after failover"
say "new leader $leader2, term $term2"
follower=
for node in lab1 lab2 lab3; do
	[ "$node" != "$leader" ] && [ "$node" != "$leader2" ] && follower=$node
done

say "$leader2 still shows $HOLDER (token $t1) and the queued $WAITER"
inherited() {
	observe "$leader2" && [ "$(jget "$out" replica)" = false ] &&
		[ "$(jget "$out" holder)" = "$HOLDER" ] &&
		[ "$(jget "$out" waiters)" -ge 1 ]
}
wait_until 15 inherited || fail "$leader2 lost the holder or the waiter: $out"
assert_eq "$(jget "$out" token)" "$t1" "holder's token at $leader2"

say "$HOLDER releases $KEY with token $t1 through follower $follower"
# Bounded retries: the new leader answers only after its takeover; a
# release that did commit but whose answer was lost is seen by a query.
released() {
	ctl_node_rc out "$follower" --client-id "$HOLDER" --timeout 300 \
		lock release "$KEY" --token "$t1"
	if [ "$CTL_RC" -eq 0 ] && [ "$(jget "$out" status)" = released ]; then
		return 0
	fi
	observe "$leader2" && [ "$(jget "$out" holder)" != "$HOLDER" ]
}
wait_until 20 released || fail "release through $follower failed: $out"
say "released: $out"

say "the replicated table grants $KEY to $WAITER with a larger token"
waiter_holds() {
	observe "$leader2" && [ "$(jget "$out" held)" = true ] &&
		[ "$(jget "$out" holder)" = "$WAITER" ] &&
		[ "$(jget "$out" replica)" = false ]
}
wait_until 15 waiter_holds || fail "$WAITER not granted at $leader2: $out"
t2=$(jget "$out" token)
assert_gt "$t2" "$t1" "waiter's token after failover"
echo "waiter-table $t2" >>"$TOKENS"
sees_waiter() {
	observe "$follower" && [ "$(jget "$out" holder)" = "$WAITER" ] &&
		[ "$(jget "$out" token)" = "$t2" ]
}
wait_until 15 sees_waiter ||
	fail "follower $follower does not show $WAITER with token $t2: $out"

say "the waiter process hears of its grant from the new leader"
heard() {
	jline "$TMP/waiter.out" acquire >/dev/null
}
wait_until 10 heard || fail "the waiter was not told of its grant at $leader2"
line=$(jline "$TMP/waiter.out" acquire)
assert_eq "$(jget "$line" status)" ok "waiter's outcome ($line)"
assert_eq "$(jget "$line" token)" "$t2" "token the waiter was told"
echo "waiter $t2" >>"$TOKENS"
say "the waiter was told: token $t2"

say "tokens told, in order: $(tr '\n' ' ' <"$TOKENS")"
python3 - "$TOKENS" "$TOKENS.seen" <<'PYEOF' || fail "tokens not increasing"
import sys
told = [int(l.split()[1]) for l in open(sys.argv[1]) if l.strip()]
# A client told twice of one grant (the table and the waiter) is one
# token; distinct grants must strictly increase.
grants = []
for t in told:
    if not grants or t != grants[-1]:
        grants.append(t)
if any(b <= a for a, b in zip(grants, grants[1:])):
    sys.exit("grants not strictly increasing: %s" % told)
seen = [int(l.split()[1]) for l in open(sys.argv[2]) if l.strip()]
if any(t not in grants for t in seen):
    sys.exit("a query showed a token no client was granted: %s vs %s"
             % (seen, grants))
PYEOF
exit 0
