#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# workers.pktgen_reflect (docs/benchmarks.md, "Driving latchd with
# pktgen"): a 72-byte UDP datagram to 198.18.0.1:1028, pktgen's latency
# probe port, comes back from latchd with MACs, addresses and ports swapped
# and its payload byte-identical; latchd counts it in pktgen_reflected.
# Sent from a kernel socket inside the lab's namespace.
source "$(dirname "$0")/lib.sh"

PROFILE=${LATCH_LAB_PROFILE:-$ROOT/firmware-cfg/lab.conf}
# The lab profile must switch reflection on, or there is nothing to test.
awk '/^\[workers\]/ { s = 1; next } /^\[/ { s = 0 }
	s && /^[ \t]*pktgen_reflect[ \t]*=[ \t]*yes/ { found = 1 }
	END { exit !found }' "$PROFILE" ||
	fail "$PROFILE lacks workers.pktgen_reflect = yes"

lab_start
before=$(counter pktgen_reflected)

"$LAB" exec python3 - >"$TMP/reflect.out" <<'PY' ||
import os, socket, sys

# 72 bytes of UDP datagram: 8 of header, 64 of payload (random bytes, so
# an answer made of anything but our payload cannot pass).
payload = os.urandom(64)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.2", 0))
s.connect(("198.18.0.1", 1028))  # only datagrams from 198.18.0.1:1028
s.settimeout(1.0)
for attempt in range(5):  # the first may wait on ARP
    s.send(payload)
    try:
        back = s.recv(2048)
    except socket.timeout:
        continue
    print("identical" if back == payload else "different %r" % back)
    sys.exit(0)
print("no answer")
sys.exit(1)
PY
	fail "no reflection: $(cat "$TMP/reflect.out")"
assert_eq "$(cat "$TMP/reflect.out")" "identical" "reflected payload"
after=$(counter pktgen_reflected)
assert_gt "$after" "$before" "pktgen_reflected"

# The same datagram to a port that is neither a lock port nor 1028 is not
# reflected (the reflection is the probe port's, not every port's).
"$LAB" exec python3 - >"$TMP/other.out" <<'PY' || true
import os, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.2", 0))
s.connect(("198.18.0.1", 1029))
s.settimeout(0.5)
s.send(os.urandom(64))
try:
    s.recv(2048)
    print("answered")
except (socket.timeout, ConnectionRefusedError):
    print("silent")
PY
assert_eq "$(cat "$TMP/other.out")" "silent" "datagram to port 1029"
