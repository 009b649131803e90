#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# latchd's half of the replicated cluster (docs/cluster.md): two latchd in
# a namespace of their own, joined by a bridge, each with a tiny python3
# stand-in for latch-control on its repl.sock that sends one VIEW (node 1
# LEADER of term 1, node 2 FOLLOWER; voters and counted {1,2}). Then:
#   - an ACQUIRE at node 1 is granted once committed on both nodes;
#   - node 2 answers NOT_LEADER naming node 1 (holder, count);
#   - QUERY at node 1 shows the holder;
#   - node 2's REPORTs show its commit index advancing.
set -euo pipefail

BUILD=${LATCH_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build}
LATCHD=$BUILD/dataplane/latchd
NAME=repl_dp
NS=latch-repl-dp
BR=rpdbr
TMP=$(mktemp -d /tmp/latch-repl-dp.XXXXXX)
PIDS=()

say() { echo "[$NAME] $*"; }
fail() {
	say "FAIL: $*"
	ip -n "$NS" link show 2>/dev/null | grep -A1 rpd || true
	for k in 1 2; do
		[ -f "$TMP/n$k.log" ] && { echo "--- latchd n$k"; tail -n 30 "$TMP/n$k.log"; }
		[ -f "$TMP/ctl$k.log" ] && { echo "--- control n$k"; tail -n 10 "$TMP/ctl$k.log"; }
		[ -f "$TMP/rep$k.jsonl" ] && { echo "--- reports n$k"; tail -n 2 "$TMP/rep$k.jsonl"; }
	done
	exit 1
}
cleanup() {
	local rc=$? pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
	[ "$rc" -eq 0 ] && say PASS
	exit "$rc"
}

[ "$(id -u)" -eq 0 ] || { say "SKIP: needs root"; exit 77; }
[ -x "$LATCHD" ] || { say "SKIP: $LATCHD not built"; exit 77; }
command -v python3 >/dev/null || { say "SKIP: no python3"; exit 77; }
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add "$BR" address 02:00:00:00:07:fe type bridge
ip -n "$NS" addr add 198.18.7.254/24 dev "$BR"
ip -n "$NS" link set "$BR" up

profile() { # K OTHER
	local k=$1 o=$2
	cat <<EOP
[node]
name = rpd$k
id = $k
port_base = 7400
run_dir = $TMP/n$k/run
state_dir = $TMP/n$k/state
[eal]
lcores = 0@0,1@$((k - 1))
[workers]
count = 1
idle = sleep
idle_sleep_us = 200
mbufs = 4095
ring_size = 256
[table]
locks_max = 1024
holders_max = 1024
waiters_max = 1024
sessions_max = 256
dedup_max = 1024
notify_max = 256
timer_slots = 1024
[port tap0]
vdev = net_tap0,iface=rpd$k,mac=02:00:00:00:07:0$k
role = client
addr = 198.18.7.$k
[control]
mgmt_addr = 127.0.0.1:76${k}0
heartbeat_ms = 50
[peer n$o]
id = $o
mgmt = 127.0.0.1:76${o}0
data = 198.18.7.$o
mac = 02:00:00:00:07:0$o
EOP
}

for k in 1 2; do
	o=$((3 - k))
	mkdir -p "$TMP/n$k/run"
	profile "$k" "$o" >"$TMP/n$k.conf"
	"$LATCHD" --check-config "$TMP/n$k.conf" >/dev/null ||
		fail "profile of node $k refused"
	ip netns exec "$NS" "$LATCHD" --profile "$TMP/n$k.conf" --foreground \
		-- --no-huge -m 256 </dev/null >"$TMP/n$k.log" 2>&1 &
	PIDS+=($!)
done
for k in 1 2; do
	for i in $(seq 150); do
		grep -q "latchd ready" "$TMP/n$k.log" && break
		kill -0 "${PIDS[$((k - 1))]}" 2>/dev/null || fail "latchd n$k died"
		sleep 0.2
	done
	grep -q "latchd ready" "$TMP/n$k.log" || fail "latchd n$k not ready"
	# net_tap's mac= gives the kernel side the DPDK port's MAC too; a
	# bridge would take frames to it as its own. Give the kernel side
	# another, so the bridge learns the DPDK MAC behind the port.
	ip -n "$NS" link set "rpd$k" address "02:00:00:00:17:0$k"
	ip -n "$NS" link set "rpd$k" master "$BR"
	ip -n "$NS" link set "rpd$k" up
done

# The stand-in for latch-control: struct layouts of raft_chan.h exactly.
cat >"$TMP/ctl.py" <<'EOPY'
import json, socket, struct, sys, time
path, role, leader, out, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
DOWN = struct.Struct('<BBHI' 'QQQQQ' 'BBBBBB2x')       # raft_chan_down + view
REP = struct.Struct('<QQQQQ' 'QQ' 'QQQ' '8Q' '8Q' 'HBBB3x')  # raft_chan_report
assert DOWN.size == 56 and REP.size == 216
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
s.settimeout(0.05)
inc, sent, end = None, 0, time.time() + secs
f = open(out, 'w')
while time.time() < end:
    try:
        b = s.recv(4096)
    except socket.timeout:
        b = None
    if b:
        if len(b) != REP.size:
            print('bad report size', len(b), flush=True); continue
        r = REP.unpack(b)
        inc = r[2]
        f.write(json.dumps({'seq': r[1], 'incarnation': r[2], 'term': r[3],
                            'last_index': r[6], 'commit': r[7], 'applied': r[8],
                            'role': r[27], 'flags': r[28]}) + '\n'); f.flush()
    if inc is not None and time.time() - sent > 0.05:
        # VIEW(ctl_incarnation 1, seq 1, dp_incarnation, term 1, caught up)
        s.send(DOWN.pack(1, 0, 0xffff, 0, 1, 1, inc, 1, inc,
                         role, leader, 0b110, 0b110, 0, 0))
        sent = time.time()
EOPY
# role: LEADER 2 at node 1, FOLLOWER 1 at node 2; leader 1.
for k in 1 2; do
	role=$([ "$k" -eq 1 ] && echo 2 || echo 1)
	python3 "$TMP/ctl.py" "$TMP/n$k/run/repl.sock" "$role" 1 \
		"$TMP/rep$k.jsonl" 60 >"$TMP/ctl$k.log" 2>&1 &
	PIDS+=($!)
done

# A lock client: the wire format of include/latch/proto.h, big-endian.
cat >"$TMP/client.py" <<'EOPY'
import socket, struct, sys
HDR = struct.Struct('>HBBHHHHIQQ' 'QQII')
addr, op, flags, key, rid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode(), int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
req = HDR.pack(0x4c54, 1, op, flags, 0, len(key), 0, 0, 42, rid, 0, 0, 5000, 0) + key
for _ in range(5):
    s.sendto(req, (addr, 7400))
    try:
        b, _ = s.recvfrom(2048)
    except socket.timeout:
        continue
    f = HDR.unpack(b[:HDR.size])
    print('op=%d status=%d count=%d token=%d holder=%d' % (f[2], f[6], f[7], f[10], f[11]))
    sys.exit(0)
print('no answer'); sys.exit(1)
EOPY
client() { ip netns exec "$NS" python3 "$TMP/client.py" "$@"; }

# Wait until node 1 leads (its reports say role LEADER with its no-op
# committed on both nodes) and node 2 follows.
ok=0
for i in $(seq 100); do
	if [ -s "$TMP/rep1.jsonl" ] && [ -s "$TMP/rep2.jsonl" ] &&
		tail -n 1 "$TMP/rep1.jsonl" | grep -q '"role": 2' &&
		tail -n 1 "$TMP/rep2.jsonl" | grep -q '"commit": [1-9]'; then
		ok=1; break
	fi
	sleep 0.1
done
[ "$ok" -eq 1 ] || fail "node 1 did not lead term 1 with node 2 following"
c2_before=$(tail -n 1 "$TMP/rep2.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit"])')
say "node 2 commit before the acquire: $c2_before"

out=$(client 198.18.7.1 1 0 k1 1) || fail "no answer to ACQUIRE at node 1: $out"
say "acquire at node 1: $out"
echo "$out" | grep -q 'op=129 status=0 ' || fail "ACQUIRE at node 1 not granted: $out"
echo "$out" | grep -q 'token=0 ' && fail "grant without a token: $out"

out=$(client 198.18.7.2 1 0 k2 2) || fail "no answer to ACQUIRE at node 2: $out"
say "acquire at node 2: $out"
# NOT_LEADER (11) naming node 1: count 1, holder 198.18.7.1 | 7400 << 32.
holder=$(( (7400 << 32) | (198 << 24) | (18 << 16) | (7 << 8) | 1 ))
echo "$out" | grep -q "status=11 count=1 .*holder=$holder\$" ||
	fail "node 2 did not redirect to node 1: $out"

out=$(client 198.18.7.1 4 0 k1 3) || fail "no answer to QUERY at node 1: $out"
say "query at node 1: $out"
echo "$out" | grep -q 'status=0 count=1 .*holder=42$' || fail "QUERY does not show client 42: $out"

# The acquire committed on both: node 2's commit moved past it.
ok=0
for i in $(seq 50); do
	c2=$(tail -n 1 "$TMP/rep2.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin)["commit"])')
	[ "$c2" -gt "$c2_before" ] && { ok=1; break; }
	sleep 0.1
done
[ "$ok" -eq 1 ] || fail "node 2's commit did not advance ($c2_before -> $c2)"
say "node 2 commit after the acquire: $c2"

# A follower answers QUERY from its own applied state (a replica read,
# docs/protocol.md), not with NOT_LEADER: once it applied the acquire it
# shows the same holder and token as the leader.
ok=0
for i in $(seq 50); do
	out=$(client 198.18.7.2 4 0 k1 $((4 + i))) ||
		fail "no answer to QUERY at node 2: $out"
	echo "$out" | grep -q 'status=0 count=1 token=1099511627776 holder=42$' &&
		{ ok=1; break; }
	sleep 0.1
done
[ "$ok" -eq 1 ] || fail "node 2's replica read does not show client 42: $out"
say "query at node 2 (replica): $out"
exit 0
