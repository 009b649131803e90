#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# gen-pcap's file replayed into the lab (docs/benchmarks.md, "Driving
# latchd with pktgen"): the frames gen-pcap writes, sent as they are on the
# lab's TAP interface latch0 from inside the namespace (python3, AF_PACKET),
# with the lab's real MACs, are served by latchd: req_acquire goes up by
# the number of frames, every frame gets its OK answer, and no drop counter
# moves. Nothing here looks at a timing.
source "$(dirname "$0")/lib.sh"

GEN=${LATCH_GEN_PCAP:-$LATCH_BUILD/tools/gen-pcap}
[ -x "$GEN" ] || fail "gen-pcap not built at $GEN"
COUNT=600
SRC_PORT=40000

lab_start

# latchd's MAC on tap0 (its control socket, via tools/lab status) and the
# kernel side's MAC (latch0 in the namespace).
status=$("$LAB" status --json)
LATCHD_MAC=$(python3 -c '
import json, sys
node = json.loads(sys.argv[1])["nodes"][0]
for p in node["latchd"]["ports"]:
    if p["name"] == "tap0":
        print(p["mac"])' "$status")
[ -n "$LATCHD_MAC" ] || fail "no tap0 MAC in: $status"
IFACE_MAC=$(ip -n latch-lab link show latch0 | awk '/link\/ether/ { print $2 }')
[ -n "$IFACE_MAC" ] || fail "no MAC on latch0"
say "latchd tap0 $LATCHD_MAC, latch0 $IFACE_MAC"

# The kernel's IPv6 chatter (router solicitations, MLD) on latch0 would
# count as latchd drops (not_ipv4); this test's namespace does not need it.
ip netns exec latch-lab sysctl -q -w net.ipv6.conf.latch0.disable_ipv6=1 ||
	true

# A client id of this run: latchd's dedup window must not know it.
CLIENT_ID=$(((RANDOM << 16 | RANDOM) + 1))
"$GEN" --out "$TMP/acq.pcap" --count "$COUNT" --keys "$COUNT" \
	--key-prefix "replay-$$-" --ops acquire --client-id "$CLIENT_ID" \
	--dst-mac "$LATCHD_MAC" --src-mac "$IFACE_MAC" --src-port "$SRC_PORT" ||
	fail "gen-pcap failed"

# drops_total: every drop counter of latchd's totals, summed.
drops_total() {
	ctl stats | python3 -c '
import json, sys
print(sum(json.load(sys.stdin)["total"]["drops"].values()))'
}
acq0=$(counter req_acquire)
drops0=$(drops_total)

# Replay: AF_PACKET on latch0, frames as written. A UDP socket on the
# frames' source address and port takes the answers (else the kernel would
# answer latchd with ICMP port unreachable) and counts them. Paced in
# bursts of 16 so that latchd's 512-descriptor TAP ring cannot overflow
# while its workers wake from their idle sleep.
"$LAB" exec python3 - "$TMP/acq.pcap" "$SRC_PORT" "$COUNT" \
	>"$TMP/replay.out" <<'PY' || fail "replay failed: $(cat "$TMP/replay.out")"
import socket, struct, sys, time

path, port, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
magic, = struct.unpack_from("<I", data, 0)
assert magic == 0xa1b2c3d4, "not a little-endian pcap"
frames, off = [], 24
while off < len(data):
    _, _, incl, _ = struct.unpack_from("<IIII", data, off)
    frames.append(data[off + 16:off + 16 + incl])
    off += 16 + incl
assert len(frames) == want, (len(frames), want)

rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
rx.bind(("198.18.0.2", port))
rx.settimeout(0.2)
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind(("latch0", 0))

answers = {}
def drain():
    while True:
        try:
            msg = rx.recv(2048)
        except socket.timeout:
            return
        # op at 3 (reply bit 0x80), status at 10, request id at 24.
        op, = struct.unpack_from("!B", msg, 3)
        status, = struct.unpack_from("!H", msg, 10)
        rid, = struct.unpack_from("!Q", msg, 24)
        answers.setdefault(rid, []).append((op, status))

for i, f in enumerate(frames):
    tx.send(f)
    if i % 16 == 15:
        time.sleep(0.002)
deadline = time.time() + 10
while len(answers) < want and time.time() < deadline:
    drain()
ok = sum(1 for v in answers.values() if v == [(0x81, 0)])
print("sent %d answers %d ok %d dup %d" % (len(frames), len(answers), ok,
      sum(1 for v in answers.values() if len(v) > 1)))
PY
say "$(cat "$TMP/replay.out")"

acq1=$(counter req_acquire)
drops1=$(drops_total)
assert_eq "$((acq1 - acq0))" "$COUNT" "req_acquire increase"
assert_eq "$drops1" "$drops0" "latchd drops (sum of every reason)"
assert_eq "$(cat "$TMP/replay.out")" \
	"sent $COUNT answers $COUNT ok $COUNT dup 0" "answers to the replay"
