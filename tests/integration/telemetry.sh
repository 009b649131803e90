#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# latchd's counters through DPDK telemetry (dpdk-telemetry.py, Debian's
# dpdk package): /latch/stats and /latch/drops answer with the counter
# names, and a lock request shows up in the numbers.
source "$(dirname "$0")/lib.sh"
command -v dpdk-telemetry.py >/dev/null ||
	{ echo "[telemetry] SKIP: dpdk-telemetry.py not installed"; exit 77; }
lab_start

ctl_rc out --client-id 601 lock acquire it-telemetry
assert_eq "$(jget "$out" status)" granted "acquire"

# The file prefix is latch-<node name> (lab.conf: lab1, so latch-lab1).
node=$("$LAB" status --json | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["nodes"][0]["name"])')
printf '/latch/stats\n/latch/drops\n' |
	dpdk-telemetry.py -f "latch-$node" >"$TMP/tele.out" 2>&1 ||
	fail "dpdk-telemetry.py failed: $(cat "$TMP/tele.out")"
cat "$TMP/tele.out"
python3 - "$TMP/tele.out" <<'PY' || fail "telemetry answers lack counters"
# dpdk-telemetry.py prints each JSON answer after its banner lines.
import json, sys
text = open(sys.argv[1]).read()
def answer(cmd):
    start = text.index('{"%s"' % cmd)
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return obj[cmd]
stats, drops = answer("/latch/stats"), answer("/latch/drops")
def find(x, k):
    if isinstance(x, dict):
        if k in x:
            return x[k]
        for v in x.values():
            r = find(v, k)
            if r is not None:
                return r
    return None
for name in ("rx_packets", "tx_packets", "req_acquire", "grants",
             "releases", "lease_expired", "sessions_expired", "idle_sleeps"):
    assert find(stats, name) is not None, "/latch/stats lacks " + name
for name in ("truncated", "bad_magic", "bad_version", "unknown_op",
             "key_too_long", "length_mismatch", "wrong_partition"):
    assert find(drops, name) is not None, "/latch/drops lacks " + name
# The acquire above is counted.
assert find(stats, "req_acquire") >= 1, stats
assert find(stats, "grants") >= 1, stats
PY
