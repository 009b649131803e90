#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Backends added and deleted at run time (latchctl backend add|del;
# docs/routing.md, "operation"), end to end, with latchd started here in a
# network namespace of this test's own (as test_route.sh does):
#
# 1. N numbered datagrams with distinct 5-tuples go through route web
#    (pool b1, b2, b3); after N/3 `backend add b4`, after 2N/3 `backend
#    del b2`, while the sender goes on. Every datagram must arrive exactly
#    once; none sent before the add was issued may reach b4, and b4 must
#    receive datagrams sent after the add returned; none sent after the
#    del returned may reach b2; latchd's per-route and per-backend
#    counters must equal what arrived.
# 2. b5, added next, takes the counter slot b2 left: its count starts at
#    0 and then equals what it receives (no mixing with b2's).
# 3. Route ct (connection tracking) over the same pool: F flows, then
#    `backend del` of a backend that holds some of them: exactly those
#    flows move (never to the deleted one), every other flow stays, and
#    the conntrack counters say so; a backend added then takes no
#    established flow.
# 4. Refusals (duplicate name, bad MAC, unknown via, a route's default, a
#    used pool's last backend, Maglev's M > 100 x N) exit 1 with a clear
#    error and change nothing; a backend without --port takes its pool's.
RT_TEST=route_backends
NODE=route-be # node.name in route_be.conf: EAL file prefix latch-route-be
RT_IF=rtbe0
RT_NET=198.18.10
# The next hop of every backend: rtbe0's MAC (route_be.conf).
RT_HOP=02:00:00:00:0a:02
# Datagrams in phase 1; the add goes at N/3, the del at 2N/3.
N=3000
# Flows in phase 3: enough that every backend holds some (about F/4).
F=300
PROFILE=$(cd "$(dirname "$0")" && pwd)/route_be.conf
source "$(dirname "$0")/route_lib.sh"

cmd() {
	ctl "$@" >"$TMP/cmd.json" || fail "latchctl $*: $(cat "$TMP/cmd.json")"
}
# refused WORDS -- ARGS: latchctl ARGS must exit 1 with WORDS in its error.
refused() {
	local words=$1 rc=0
	shift 2
	ctl "$@" >"$TMP/ref.json" 2>/dev/null || rc=$?
	[ "$rc" -eq 1 ] || fail "latchctl $* exited $rc, want 1 (refused)"
	grep -q -- "$words" "$TMP/ref.json" ||
		fail "latchctl $*: error without '$words': $(cat "$TMP/ref.json")"
}

# --- latchd in our namespace; the backends: bN at 198.18.10.1N, port 900N ---
rt_start_latchd 11 12 13 14 15 16 17
rt_start_receivers text $(for i in 1 2 3 4 5 6 7; do
	echo "b$i=198.18.10.1$i:900$i"
done)

arrived() {
	grep -c " $1:" "$TMP/recv.log" || true
}
# wait_for TAG COUNT: until COUNT datagrams tagged TAG arrived.
wait_for() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(arrived "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	fail "$1: $(arrived "$1") of $2 datagrams arrived"
}

# --- 1. add b4 and delete b2 under traffic ---------------------------------
cat >"$TMP/send_cmds.py" <<'PY'
# Datagram i: "seq:i" from 198.18.10.2 port 20000 + i (every 5-tuple
# distinct) to 198.18.10.1 port 8000 + i % 11 (route web). At i == n / 3
# a thread runs the add command, at i == 2n / 3 the del command; for each,
# "before" is how many were sent when it was issued and "after" when it
# returned: datagrams numbered from "after" on were sent after the swap.
import json, socket, subprocess, sys, threading, time
n, out = int(sys.argv[1]), sys.argv[2]
cmds = {n // 3: ("add", json.loads(sys.argv[3])),
        2 * n // 3: ("del", json.loads(sys.argv[4]))}
sent = 0
result = {}
def run(tag, argv):
    r = {"before": sent}
    p = subprocess.run(argv, capture_output=True, text=True)
    r["after"] = sent
    r["rc"] = p.returncode
    r["answer"] = p.stdout.strip()
    result[tag] = r
threads = []
for i in range(n):
    if i in cmds:
        threads.append(threading.Thread(target=run, args=cmds[i]))
        threads[-1].start()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.10.2", 20000 + i))
    s.sendto(b"seq:%d" % i, ("198.18.10.1", 8000 + i % 11))
    s.close()
    sent = i + 1
    time.sleep(0.0003)  # a steady flow, below what the TAP queue holds
for t in threads:
    t.join()
json.dump(result, open(out, "w"))
PY
base=("$LATCHCTL" --json --control "$RUN/latchd.sock")
add_argv=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
	"${base[@]}" backend add b4 --pool web --addr 198.18.10.14 \
	--mac "$RT_HOP" --port 9004)
del_argv=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \
	"${base[@]}" backend del b2)
ip netns exec "$NS" python3 "$TMP/send_cmds.py" "$N" "$TMP/send.json" \
	"$add_argv" "$del_argv"
say "sent $N datagrams; commands: $(cat "$TMP/send.json")"
wait_for seq "$N"
sleep 0.5 # let a duplicate, if latchd sent one, show up
ctl route list >"$TMP/routes1.json" || fail "latchctl route list"
python3 - "$N" "$TMP/recv.log" "$TMP/send.json" "$TMP/routes1.json" <<'PY' ||
import collections, json, sys
n = int(sys.argv[1])
where = collections.defaultdict(list)
per_backend = collections.Counter()
for line in open(sys.argv[2]):
    name, payload = line.split()
    if payload.startswith("seq:"):
        where[int(payload[4:])].append(name)
        per_backend[name] += 1
cmds = json.load(open(sys.argv[3]))
routes = json.load(open(sys.argv[4]))
add, dele = cmds["add"], cmds["del"]
assert add["rc"] == 0 and json.loads(add["answer"])["ok"], add
assert dele["rc"] == 0 and json.loads(dele["answer"])["ok"], dele
missing = [s for s in range(n) if s not in where]
dups = {s: b for s, b in where.items() if len(b) > 1}
assert not missing, "%d datagrams lost, e.g. %s" % (len(missing), missing[:10])
assert not dups, "datagrams delivered twice: %s" % list(dups.items())[:10]
early = [s for s, b in where.items() if s < add["before"] and b[0] == "b4"]
assert not early, "at b4 before its add was issued: %s" % early[:10]
b4_after = [s for s, b in where.items() if s >= add["after"] and b[0] == "b4"]
assert b4_after, "b4 got nothing after its add returned"
late = [s for s, b in where.items() if s >= dele["after"] and b[0] == "b2"]
assert not late, "sent after the del returned, yet at b2: %s" % late[:10]
assert per_backend["b2"] > 0, "b2 got nothing before it was deleted"
assert set(per_backend) <= {"b1", "b2", "b3", "b4"}, per_backend
web = [r for r in routes["routes"] if r["name"] == "web"][0]
assert web["forwarded"] == n, "route web forwarded %d, sent %d" % (
    web["forwarded"], n)
names = sorted(be["name"] for be in web["backends"])
assert names == ["b1", "b3", "b4"], "pool web is %s" % names
for be in web["backends"]:
    assert be["forwarded"] == per_backend[be["name"]], (
        "%s: latchd counted %d, received %d" % (
            be["name"], be["forwarded"], per_backend[be["name"]]))
    assert be["port"] == int(be["name"][1:]) + 9000, be
print("[route_backends] phase 1: %d datagrams, each once: %s; b4 added "
      "(issued at #%d, returned at #%d, %d after), b2 deleted (issued at "
      "#%d, returned at #%d)" % (n, dict(per_backend), add["before"],
      add["after"], len(b4_after), dele["before"], dele["after"]))
PY
	fail "phase 1 (backend add and del under traffic)"

# --- 2. b5 takes b2's counter slot and starts at 0 -------------------------
cmd backend add b5 --pool web --addr 198.18.10.15 --mac "$RT_HOP" --port 9005
ctl route list >"$TMP/routes2a.json"
cat >"$TMP/send.py" <<'PY'
# send TAG SPORT_BASE DPORT_BASE N: flow i is 198.18.10.2, source port
# SPORT_BASE + i, to 198.18.10.1 port DPORT_BASE + i % 11, "TAG:i".
import socket, sys, time
tag, sbase, dbase, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.10.2", sbase + i))
    s.sendto(b"%s:%d" % (tag.encode(), i), ("198.18.10.1", dbase + i % 11))
    s.close()
    time.sleep(0.0003)
PY
send() {
	ip netns exec "$NS" python3 "$TMP/send.py" "$1" "$2" "$3" "$4"
	wait_for "$1" "$4"
}
send s2 25000 8000 "$F"
sleep 0.3
ctl route list >"$TMP/routes2b.json"
python3 - "$TMP/recv.log" "$TMP/routes1.json" "$TMP/routes2a.json" \
	"$TMP/routes2b.json" <<'PY' || fail "phase 2 (counter slot of b5)"
import collections, json, sys
got = collections.Counter(l.split()[0] for l in open(sys.argv[1])
                          if l.split()[1].startswith("s2:"))
slot = lambda routes, name: [b for b in routes["backends"]
                             if b["name"] == name][0]
r1, r2a, r2b = (json.load(open(p)) for p in sys.argv[2:5])
b5 = slot(r2a, "b5")
assert b5["forwarded"] == 0, "b5 starts at %d, not 0" % b5["forwarded"]
assert got["b5"] > 0, "b5 got none of %s" % dict(got)
for name in ("b1", "b3", "b4", "b5"):
    before = slot(r1, name)["forwarded"] if name != "b5" else 0
    now = slot(r2b, name)["forwarded"]
    assert now - before == got[name], "%s counted %d, received %d" % (
        name, now - before, got[name])
print("[route_backends] phase 2: b5 started at 0 and counted its %d of "
      "%s" % (got["b5"], dict(got)))
PY

# --- 3. connection tracking: a deleted backend's flows move ---------------
send c1 30000 8100 "$F" # tracked flows over b1, b3, b4, b5
cmd backend del b3
send c2 30000 8100 "$F"
cmd backend add b6 --pool web --addr 198.18.10.16 --mac "$RT_HOP" --port 9006
send c3 30000 8100 "$F"
send n3 40000 8100 "$F" # new flows: b6 included
sleep 0.3
ctl route list >"$TMP/routes3.json"
python3 - "$F" "$TMP/recv.log" "$TMP/routes2b.json" "$TMP/routes3.json" <<'PY' ||
import collections, json, sys
n = int(sys.argv[1])
at = collections.defaultdict(dict)
for line in open(sys.argv[2]):
    name, payload = line.split()
    tag, i = payload.split(":")
    if tag in ("c1", "c2", "c3", "n3"):
        assert int(i) not in at[tag], "%s delivered twice" % payload
        at[tag][int(i)] = name
for tag in ("c1", "c2", "c3", "n3"):
    assert len(at[tag]) == n, "%s: %d of %d" % (tag, len(at[tag]), n)
flows = range(n)
on_b3 = [i for i in flows if at["c1"][i] == "b3"]
assert on_b3, "no tracked flow was on b3: %s" % collections.Counter(
    at["c1"].values())
for i in flows:
    if at["c1"][i] == "b3":
        assert at["c2"][i] != "b3", "flow %d still at deleted b3" % i
    else:
        assert at["c2"][i] == at["c1"][i], "flow %d moved %s -> %s" % (
            i, at["c1"][i], at["c2"][i])
    assert at["c3"][i] == at["c2"][i], "flow %d moved to %s when b6 " \
        "joined" % (i, at["c3"][i])
assert "b6" in at["n3"].values(), "no new flow reached b6: %s" % (
    collections.Counter(at["n3"].values()))
assert "b3" not in at["n3"].values()
before = json.load(open(sys.argv[3]))["conntrack"]
ct = json.load(open(sys.argv[4]))["conntrack"]
# c1 and n3 are new flows; c2 hits but for b3's, which moved; c3 all hit.
want = {"misses": 2 * n, "hits": 2 * n - len(on_b3), "moved": len(on_b3),
        "evictions": 0, "expired": 0}
for k, v in want.items():
    got = ct[k] - before[k]
    assert got == v, "conntrack %s grew by %d, want %d" % (k, got, v)
print("[route_backends] phase 3: %d tracked flows; %d on deleted b3 moved, "
      "the rest stayed; none moved to b6, new flows reach it" % (
      n, len(on_b3)))
PY
	fail "phase 3 (connection tracking and backend del)"

# --- 4. refusals change nothing; the pool's port by default ---------------
cmd route add api --match 8200 --key 5tuple --pool web --default b1
cmd backend add s1 --pool solo --addr 198.18.10.21 --mac "$RT_HOP" --port 9100
cmd route add solo --match 8300 --key 5tuple --pool solo
ctl route list >"$TMP/routes4a.json"
refused "exists" -- backend add b1 --pool web --addr 198.18.10.17 \
	--mac "$RT_HOP" --port 9007
refused "mac:" -- backend add b7 --pool web --addr 198.18.10.17 \
	--mac 02:00:00:00:0a --port 9007
refused "mac:" -- backend add b7 --pool web --addr 198.18.10.17 \
	--mac 01:00:5e:00:00:01 --port 9007
refused "addr:" -- backend add b7 --pool web --addr 198.18.10 \
	--mac "$RT_HOP" --port 9007
refused "via:" -- backend add b7 --pool web --addr 198.18.10.17 \
	--mac "$RT_HOP" --port 9007 --via nosuch
refused "port:" -- backend add b7 --pool web --addr 198.18.10.17 --mac "$RT_HOP"
refused "route api" -- backend del b1
refused "route solo" -- backend del s1
refused "no backend" -- backend del nosuch
# Route big's M = 503 (prime) holds pool web's four backends (b1 b4 b5
# b6) and a fifth (503 > 100 x 5); a sixth would need M > 600.
cmd route add big --match 8400 --key 5tuple --pool web --table-size 503
cmd backend add b7 --pool web --addr 198.18.10.17 --mac "$RT_HOP" --port 9007
refused "table_size" -- backend add b8 --pool web --addr 198.18.10.18 \
	--mac "$RT_HOP" --port 9008
cmd backend del b7
rc=0
ctl backend add b8 --pool web >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "backend add without --addr and --mac exited $rc, want 2"
ctl route list >"$TMP/routes4b.json"
# Without --port: the pool's (all of solo's backends use 9100).
cmd backend add s2 --pool solo --addr 198.18.10.22 --mac "$RT_HOP"
ctl route list >"$TMP/routes4c.json"
python3 - "$TMP/routes4a.json" "$TMP/routes4b.json" "$TMP/routes4c.json" <<'PY' ||
import json, sys
a, b, c = (json.load(open(p)) for p in sys.argv[1:4])
key = lambda r: sorted((x["name"], x["pool"], x["addr"], x["port"], x["mac"],
                        x["weight"], x["state"]) for x in r["backends"])
assert key(a) == key(b), "refusals changed the backends:\n%s\n%s" % (
    key(a), key(b))
# Three commits between a and b: route add big, backend add b7, del b7.
assert b["generation"] == a["generation"] + 3, (a["generation"],
                                                b["generation"])
s2 = [x for x in c["backends"] if x["name"] == "s2"][0]
assert s2["port"] == 9100 and s2["pool"] == "solo", s2
print("[route_backends] phase 4: refusals changed nothing (generation "
      "%d -> %d, the three accepted commands only); s2 took port 9100" % (
      a["generation"], b["generation"]))
PY
	fail "phase 4 (refusals)"
