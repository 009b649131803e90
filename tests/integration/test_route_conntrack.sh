#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Connection tracking end to end (docs/routing.md, "connection tracking"),
# with latchd started here in a network namespace of this test's own:
#
# Route web (conntrack = yes) and route plain (no tracking) share a pool
# b1, b2, b3 in which b3 starts down. F flows (distinct 5-tuples) send one
# datagram each through both routes; then `latchctl backend up b3` grows
# the pool. Checked:
# 1. every tracked flow's next datagram reaches the backend its first one
#    did, while untracked flows with the same 5-tuples (but the other
#    route's port) move, some of them (the precondition, measured);
# 2. new flows spread over the whole pool, b3 included;
# 3. after `backend down b1`, the flows on b1 move (never to b1) and every
#    other flow stays where it was;
# 4. a route added at run time with --conntrack is tracked too: its flows
#    stay when b1 comes back up;
# 5. latchd's conntrack counters (stats, route list) equal what was sent.
RT_TEST=route_conntrack
NODE=route-ct # node.name in route_ct.conf: EAL file prefix latch-route-ct
RT_IF=rtct0
RT_NET=198.18.8
RT_HOP=02:00:00:00:08:02 # rtct0's MAC: the backends' next hop
# Flows of each kind: enough that Maglev moves some when b3 joins (about
# a third of them), few enough to send in well under a second.
F=300
PROFILE=$(cd "$(dirname "$0")" && pwd)/route_ct.conf
source "$(dirname "$0")/route_lib.sh"

# --- latchd; the backends: every datagram as "NAME PAYLOAD" ---
rt_start_latchd 11 12 13
rt_start_receivers text b1=198.18.8.11:9001 b2=198.18.8.12:9002 \
	b3=198.18.8.13:9003

# send TAG SPORT_BASE DPORT_BASE: flow i (0 <= i < F) is 198.18.8.2,
# source port SPORT_BASE + i, to 198.18.8.1 port DPORT_BASE + i % 11; its
# datagram says "TAG:i". Then wait until all F arrived.
cat >"$TMP/send.py" <<'PY'
import socket, sys, time
tag, sbase, dbase, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.8.2", sbase + i))
    s.sendto(b"%s:%d" % (tag.encode(), i), ("198.18.8.1", dbase + i % 11))
    s.close()
    time.sleep(0.0003)  # a steady flow, below what the TAP queue holds
PY
arrived() {
	grep -c " $1:" "$TMP/recv.log" || true
}
send() {
	local tag=$1 i
	ip netns exec "$NS" python3 "$TMP/send.py" "$tag" "$2" "$3" "$F"
	for ((i = 0; i < 100; i++)); do
		[ "$(arrived "$tag")" -ge "$F" ] && return 0
		sleep 0.1
	done
	fail "$tag: $(arrived "$tag") of $F datagrams arrived"
}
cmd() {
	ctl "$@" >"$TMP/cmd.json" || fail "latchctl $*: $(cat "$TMP/cmd.json")"
}

# Flows "old" (sources 20000+i) on both routes, and "new" (30000+i).
send w1 20000 8000 # tracked, b3 down
send p1 20000 8100 # untracked, same 5-tuples but the port
cmd backend up b3
send w2 20000 8000
send p2 20000 8100
send n2 30000 8000 # new tracked flows, b3 up
cmd backend down b1
send w3 20000 8000
send n3 30000 8000
# A tracked route added at run time; b1 comes back after its first round.
if ctl route add api2 --match 8300 --key payload:0:4 --pool web \
	--conntrack >/dev/null 2>&1; then
	fail "route add accepted --conntrack on a payload key"
fi
cmd route add api --match 8200-8210 --key 5tuple --pool web --conntrack \
	--conntrack-idle 600000
send a1 40000 8200
cmd backend up b1
send a2 40000 8200
sleep 0.5 # let a duplicate, if latchd sent one, show up
ctl route list >"$TMP/routes.json" || fail "latchctl route list"
ctl stats >"$TMP/stats.json" || fail "latchctl stats"

python3 - "$F" "$TMP/recv.log" "$TMP/routes.json" "$TMP/stats.json" <<'PY' ||
import collections, json, sys
n = int(sys.argv[1])
at = collections.defaultdict(dict)  # tag -> flow -> backend
for line in open(sys.argv[2]):
    name, payload = line.split()
    tag, i = payload.split(":")
    assert int(i) not in at[tag], "%s delivered twice" % payload
    at[tag][int(i)] = name
for tag in ("w1", "p1", "w2", "p2", "n2", "w3", "n3", "a1", "a2"):
    assert len(at[tag]) == n, "%s: %d of %d" % (tag, len(at[tag]), n)
flows = range(n)
spread = lambda tag: dict(collections.Counter(at[tag].values()))
# b3 down at first: nothing reaches it.
assert all(at[t][i] in ("b1", "b2") for t in ("w1", "p1") for i in flows)
# 1. b3 joined: untracked flows move (measured), tracked ones stay.
plain_moved = sum(at["p2"][i] != at["p1"][i] for i in flows)
assert plain_moved > n // 10, "plain Maglev moved only %d" % plain_moved
kept = [i for i in flows if at["w2"][i] == at["w1"][i]]
assert len(kept) == n, "tracked flows moved: %s" % [
    (i, at["w1"][i], at["w2"][i]) for i in flows if i not in kept][:10]
# 2. New flows spread over the whole pool, b3 included.
assert set(at["n2"].values()) == {"b1", "b2", "b3"}, spread("n2")
# 3. b1 down: its flows move, never to b1; the others stay.
for old, new in (("w2", "w3"), ("n2", "n3")):
    for i in flows:
        if at[old][i] == "b1":
            assert at[new][i] in ("b2", "b3"), (new, i, at[new][i])
        else:
            assert at[new][i] == at[old][i], (new, i, at[old][i], at[new][i])
on_b1 = sum(at["w2"][i] == "b1" for i in flows) + sum(
    at["n2"][i] == "b1" for i in flows)
assert on_b1 > 0, "no flow was on b1"
# 4. The run-time route is tracked: b1 back up takes no flow back.
assert all(at["a1"][i] in ("b2", "b3") for i in flows), spread("a1")
assert all(at["a2"][i] == at["a1"][i] for i in flows), spread("a2")
# 5. Counters: new flows w1, n2, a1; hits w2, a2 and the kept of w3, n3.
routes = json.load(open(sys.argv[3]))
total = json.load(open(sys.argv[4]))["total"]
ct = routes["conntrack"]
want = {"misses": 3 * n, "hits": 4 * n - on_b1, "moved": on_b1,
        "evictions": 0, "expired": 0}
for k, v in want.items():
    assert ct[k] == v, "route list conntrack %s = %d, want %d" % (k, ct[k], v)
    assert total["conntrack_" + k] == v, "stats conntrack_%s = %d, want %d" % (
        k, total["conntrack_" + k], v)
by_name = {r["name"]: r for r in routes["routes"]}
assert by_name["web"]["conntrack"] is True, by_name["web"]
assert by_name["web"]["conntrack_idle_ms"] == 600000, by_name["web"]
assert by_name["plain"]["conntrack"] is False, by_name["plain"]
assert by_name["api"]["conntrack"] is True, by_name["api"]
print("[route_conntrack] %d flows each: tracked kept %d/%d when b3 joined "
      "(untracked moved %d); new flows %s; %d moved off b1; counters %s"
      % (n, len(kept), n, plain_moved, spread("n2"), on_b1, ct))
PY
	fail "connection tracking checks"
