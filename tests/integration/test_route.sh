#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Routing and shard groups end to end (docs/routing.md), with latchd
# started here, in a network namespace of this test's own (not tools/lab):
#
# 1. N numbered datagrams with distinct 5-tuples go through latchd to three
#    backends (UDP sockets on rt0, the kernel side of latchd's TAP port);
#    meanwhile `latchctl backend down b2`. Every datagram must arrive
#    exactly once, none sent after the command returned may reach b2, and
#    latchd's per-route and per-backend counters must match what arrived.
# 2. Lock requests for keys of shard group 2 are forwarded to group 2's
#    address (UDP port kept); those of group 1 are answered by latchd.
# 3. A route added at run time routes, counts its bad input (payload too
#    short for its key) and, once deleted, routes nothing.
RT_TEST=route
NODE=route-it # node.name in route.conf: the EAL file prefix latch-route-it
RT_IF=rt0
RT_NET=198.18.7
RT_HOP=02:00:00:00:07:02 # rt0's MAC: the backends' next hop (route.conf)
# Datagrams in phase 1, and after how many the backend goes down.
N=3000
PROFILE=$(cd "$(dirname "$0")" && pwd)/route.conf
source "$(dirname "$0")/route_lib.sh"

# --- latchd in our namespace; receivers: the backends and shard group 2 ---
rt_start_latchd 11 12 13 21
rt_start_receivers hex b1=198.18.7.11:9001 b2=198.18.7.12:9002 \
	b3=198.18.7.13:9003 g2p0=198.18.7.21:7400 g2p1=198.18.7.21:7401

# --- 1. traffic through latchd while b2 goes down --------------------------
cat >"$TMP/send.py" <<'PY'
# Datagram i: payload "seq:i", source port 20000 + i (so every 5-tuple is
# distinct), to 198.18.7.1 port 8000 + i % 11. At i == n / 3 a thread runs
# `latchctl backend down b2`; "after" is how many were sent when it
# returned: datagrams numbered from there on were sent after the swap.
import json, socket, subprocess, sys, threading, time
n, ctl_cmd, out = int(sys.argv[1]), sys.argv[2:-1], sys.argv[-1]
sent = 0
result = {}
def down():
    result["before"] = sent
    p = subprocess.run(ctl_cmd, capture_output=True, text=True)
    result["after"] = sent
    result["rc"] = p.returncode
    result["answer"] = p.stdout.strip()
t = None
for i in range(n):
    if i == n // 3:
        t = threading.Thread(target=down)
        t.start()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("198.18.7.2", 20000 + i))
    s.sendto(b"seq:%d" % i, ("198.18.7.1", 8000 + i % 11))
    s.close()
    sent = i + 1
    time.sleep(0.0003)  # a steady flow, below what the TAP queue holds
t.join()
json.dump(result, open(out, "w"))
PY
ip netns exec "$NS" python3 "$TMP/send.py" "$N" "$LATCHCTL" --json \
	--control "$RUN/latchd.sock" backend down b2 "$TMP/send.json"
say "sent $N datagrams; backend down: $(cat "$TMP/send.json")"

count_web() {
	grep -c '^b[123] 7365713a' "$TMP/recv.log" || true
}
for ((i = 0; i < 100; i++)); do
	[ "$(count_web)" -ge "$N" ] && break
	sleep 0.1
done
sleep 0.5 # let a duplicate, if latchd sent one, show up
ctl route list >"$TMP/routes.json" || fail "latchctl route list failed"
python3 - "$N" "$TMP/recv.log" "$TMP/send.json" "$TMP/routes.json" <<'PY' ||
import collections, json, sys
n = int(sys.argv[1])
where = collections.defaultdict(list)
per_backend = collections.Counter()
for line in open(sys.argv[2]):
    name, hexdata = line.split()
    data = bytes.fromhex(hexdata)
    if name in ("b1", "b2", "b3") and data.startswith(b"seq:"):
        where[int(data[4:])].append(name)
        per_backend[name] += 1
send = json.load(open(sys.argv[3]))
routes = json.load(open(sys.argv[4]))
assert send["rc"] == 0, "backend down failed: %s" % send
missing = [s for s in range(n) if s not in where]
dups = {s: b for s, b in where.items() if len(b) > 1}
assert not missing, "%d datagrams lost, e.g. %s" % (len(missing), missing[:10])
assert not dups, "datagrams delivered twice: %s" % list(dups.items())[:10]
late = [s for s, b in where.items() if s >= send["after"] and b[0] == "b2"]
assert not late, "sent after the swap, yet at b2: %s" % late[:10]
assert per_backend["b2"] > 0, "b2 got nothing before it went down"
for b in ("b1", "b3"):
    assert per_backend[b] > 0, "%s got nothing" % b
web = [r for r in routes["routes"] if r["name"] == "web"][0]
assert web["forwarded"] == n, "route web forwarded %d, sent %d" % (
    web["forwarded"], n)
for be in web["backends"]:
    assert be["forwarded"] == per_backend[be["name"]], (
        "%s: latchd counted %d, received %d" % (
            be["name"], be["forwarded"], per_backend[be["name"]]))
    assert be["state"] == ("down" if be["name"] == "b2" else "up"), be
print("[route] phase 1: %d datagrams, each once: %s; b2 down after #%d "
      "(command sent at #%d)" % (n, dict(per_backend), send["after"],
                                 send["before"]))
PY
	fail "phase 1 (pool change under traffic)"

# --- 2. shard groups --------------------------------------------------------
cat >"$TMP/lock.py" <<'PY'
# ACQUIRE (try) for 40 keys, each to port 7400 + its partition
# (include/latch/proto.h: FNV-1a 64, folded, mod partitions). Prints the
# keys latchd answered itself.
import json, select, socket, struct, sys, time
parts = 2
def partition(key):
    h = 0xcbf29ce484222325
    for b in key:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return ((h ^ (h >> 32)) & 0xffffffff) % parts
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.7.2", 0))
keys = [b"shard-key-%d" % i for i in range(40)]
for i, key in enumerate(keys):
    hdr = struct.pack("!HBBHHHHIQQ", 0x4c54, 1, 1, 0, partition(key),
                      len(key), 0, 0, 77, i + 1)
    fields = struct.pack("!QQII", 0, 0, 1000, 0)
    s.sendto(hdr + fields + key, ("198.18.7.1", 7400 + partition(key)))
answered = {}
deadline = time.time() + 3
while time.time() < deadline:
    r, _, _ = select.select([s], [], [], 0.2)
    if r:
        data, src = s.recvfrom(2048)
        req_id = struct.unpack("!Q", data[24:32])[0]
        answered[keys[req_id - 1].decode()] = src[0]
json.dump({"answered": answered,
           "ports": {k.decode(): 7400 + partition(k) for k in keys}},
          open(sys.argv[1], "w"))
PY
ip netns exec "$NS" python3 "$TMP/lock.py" "$TMP/lock.json"
sleep 0.5
ctl stats >"$TMP/stats.json" || fail "latchctl stats failed"
python3 - "$TMP/recv.log" "$TMP/lock.json" "$TMP/stats.json" <<'PY' ||
import json, sys
forwarded = {}
for line in open(sys.argv[1]):
    name, hexdata = line.split()
    if name.startswith("g2p"):
        data = bytes.fromhex(hexdata)
        key = data[56:].decode()
        assert key not in forwarded, "forwarded twice: " + key
        forwarded[key] = 7400 + int(name[3:])
lock = json.load(open(sys.argv[2]))
stats = json.load(open(sys.argv[3]))
answered = lock["answered"]
assert set(answered.values()) <= {"198.18.7.1"}, answered
both = set(answered) & set(forwarded)
assert not both, "answered and forwarded: %s" % both
assert set(answered) | set(forwarded) == set(lock["ports"]), (
    "neither answered nor forwarded: %s" %
    (set(lock["ports"]) - set(answered) - set(forwarded)))
assert answered and forwarded, "one group owns every key: %s %s" % (
    answered, forwarded)
for key, port in forwarded.items():
    assert port == lock["ports"][key], "UDP port not kept for " + key
total = stats["total"]
assert total["shard_forwarded"] == len(forwarded), total["shard_forwarded"]
assert total["shard_local"] >= len(answered), total["shard_local"]
print("[route] phase 2: %d keys answered here, %d forwarded to group 2"
      % (len(answered), len(forwarded)))
PY
	fail "phase 2 (shard groups)"

# --- 3. a route added and deleted at run time; bad input counted ------------
ctl route add api --match 8100 --key payload:0:4 --pool web \
	>"$TMP/add.json" || fail "route add: $(cat "$TMP/add.json")"
if ctl route add api2 --match 8000 --key 5tuple --pool web >/dev/null 2>&1; then
	fail "route add accepted ports that overlap route web"
fi
if ctl backend down nosuch >/dev/null 2>&1; then
	fail "backend down accepted an unknown backend"
fi
before=$(grep -c . "$TMP/recv.log")
ip netns exec "$NS" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    s.sendto(b"k%03d-api-%d" % (i, i), ("198.18.7.1", 8100))
for i in range(5):
    s.sendto(b"x", ("198.18.7.1", 8100))  # shorter than the 4-byte key
'
for ((i = 0; i < 50; i++)); do
	[ "$(grep -c . "$TMP/recv.log")" -ge $((before + 20)) ] && break
	sleep 0.1
done
ctl route list >"$TMP/routes2.json"
ctl stats >"$TMP/stats2.json"
python3 - "$TMP/recv.log" "$TMP/routes2.json" "$TMP/stats2.json" <<'PY' ||
import json, sys
got = [l.split() for l in open(sys.argv[1])]
api = [(n, bytes.fromhex(h)) for n, h in got if bytes.fromhex(h)[4:9] == b"-api-"]
assert len(api) == 20, "route api delivered %d of 20" % len(api)
assert all(n in ("b1", "b3") for n, _ in api), "api reached b2 (down)"
routes = json.load(open(sys.argv[2]))
r = [x for x in routes["routes"] if x["name"] == "api"][0]
assert r["forwarded"] == 20 and r["dropped"] == 5, r
reasons = json.load(open(sys.argv[3]))["total"]["route_reasons"]
assert reasons["key_out_of_payload"] == 5, reasons
print("[route] phase 3: route api forwarded 20, dropped 5 short datagrams")
PY
	fail "phase 3 (route add, bad input)"

ctl route del api >/dev/null || fail "route del api"
ctl backend up b2 >/dev/null || fail "backend up b2"
before=$(grep -c . "$TMP/recv.log")
ip netns exec "$NS" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(10):
    s.sendto(b"gone%d" % i, ("198.18.7.1", 8100))
s.sendto(b"seq:marker", ("198.18.7.1", 8000))
'
# The marker goes by route web: once it is in, the earlier ones were seen.
for ((i = 0; i < 50; i++)); do
	grep -q "7365713a6d61726b6572" "$TMP/recv.log" && break
	sleep 0.1
done
grep -q "7365713a6d61726b6572" "$TMP/recv.log" || fail "marker lost"
after=$(grep -c . "$TMP/recv.log")
[ "$after" -eq $((before + 1)) ] ||
	fail "route api still routed after route del ($((after - before - 1)) datagrams)"
ctl route list >"$TMP/routes3.json"
python3 - "$TMP/routes3.json" <<'PY' || fail "route list after del/up"
import json, sys
routes = json.load(open(sys.argv[1]))
assert [r["name"] for r in routes["routes"]] == ["web"], routes["routes"]
assert all(b["state"] == "up" for b in routes["routes"][0]["backends"])
PY
say "phase 3: route del and backend up took effect"
