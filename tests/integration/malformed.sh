#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Garbage at latchd's lock ports: every kind of malformed message is
# dropped and counted under its own reason (docs/design.md, "wire
# format"), and normal service goes on afterwards.
source "$(dirname "$0")/lib.sh"
lab_start

# Reasons this test provokes, each by PER_REASON packets (see send.py).
REASONS="truncated bad_magic bad_version unknown_op bad_flags key_too_long
length_mismatch wrong_partition zero_client"
PER_REASON=3

declare -A before
for r in $REASONS; do
	before[$r]=$(counter "drops.$r")
done

cat >"$TMP/send.py" <<'PY'
# Send PER_REASON malformed lock messages of each kind, from inside the
# lab's namespace, to latchd's partition ports.
import socket, struct, sys

per = int(sys.argv[1])
server, base, partitions = "198.18.0.1", 7400, 2
FIXED = 56

def fnv1a(key):
    h = 0xcbf29ce484222325
    for b in key:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h

def partition(key):
    # latch_key_partition() of include/latch/proto.h: fold, then modulo.
    h = fnv1a(key)
    return ((h ^ (h >> 32)) & 0xFFFFFFFF) % partitions

def msg(key=b"it-malformed", magic=0x4C54, version=1, op=1, flags=0,
        part=None, key_len=None, client=77, request=1, extra=b""):
    if part is None:
        part = partition(key)
    if key_len is None:
        key_len = len(key)
    hdr = struct.pack(">HBBHHHHIQQ", magic, version, op, flags, part,
                      key_len, 0, 0, client, request)
    fields = struct.pack(">QQII", 0, 0, 1000, 0)
    assert len(hdr) + len(fields) == FIXED
    return hdr + fields + key + extra

good = msg()
cases = {
    "truncated": [b"", good[:10], good[:FIXED - 1]],
    "bad_magic": [msg(magic=0x1234), msg(magic=0), msg(magic=0x544C)],
    "bad_version": [msg(version=0), msg(version=2), msg(version=255)],
    "unknown_op": [msg(op=0), msg(op=9), msg(op=0x7F)],
    "bad_flags": [msg(flags=1 << 6), msg(flags=0x8000), msg(flags=0xFFFF)],
    "key_too_long": [msg(key=b"k" * 65), msg(key=b"k" * 200),
                     msg(key=b"k" * 64, key_len=65)],
    "length_mismatch": [msg(extra=b"x"), msg(key_len=5),
                        msg(key=b"", key_len=0)],
    "wrong_partition": [msg(part=partitions), msg(part=0xFFFF),
                        msg(part=1 - partition(b"it-malformed"))],
    "zero_client": [msg(client=0), msg(client=0, request=2),
                    msg(client=0, request=3)],
}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for reason, pkts in cases.items():
    assert len(pkts) == per, reason
    for i, p in enumerate(pkts):
        # Alternate ports: both workers must drop and count alike.
        s.sendto(p, (server, base + i % partitions))
print("sent %d malformed messages" % sum(len(v) for v in cases.values()))
PY
"$LAB" exec python3 "$TMP/send.py" "$PER_REASON"

# Workers count asynchronously: poll until every reason reached its share.
all_counted() {
	local r now js
	js=$(ctl stats) || return 1
	for r in $REASONS; do
		now=$(counter "drops.$r" "$js")
		[ $((now - before[$r])) -ge $PER_REASON ] || return 1
	done
}
if ! wait_until 20 all_counted; then
	for r in $REASONS; do
		echo "drops.$r: $((${before[$r]} + 0)) -> $(counter "drops.$r")" >&2
	done
	fail "not every malformed message was counted under its reason"
fi
for r in $REASONS; do
	assert_eq "$(($(counter "drops.$r") - before[$r]))" $PER_REASON \
		"drops.$r increase"
done
say "every reason counted exactly $PER_REASON drops"

# Service is unharmed.
ctl_rc out --client-id 501 lock acquire it-malformed
assert_eq "$(jget "$out" status)" granted "acquire after the garbage"
ctl_rc out --client-id 501 lock release it-malformed --token "$(jget "$out" token)"
assert_eq "$(jget "$out" status)" released "release after the garbage"
