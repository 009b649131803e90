#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# latch-bench --mode route (docs/benchmarks.md, "Routing"): the lab
# profile plus a route whose one backend is latch-bench itself (its memif
# address and MAC). Every frame latch-bench sends to the routed port must
# come back routed exactly once (sent == answered, no timeout, nothing
# unmatched), and latchd's route counters must agree. The same frames to a
# port with no route get no answer at all: what latch-bench counts in
# route mode is routing, not an echo. Nothing here looks at a timing.
source "$(dirname "$0")/lib.sh"

BENCH=${LATCH_BENCH:-$LATCH_BUILD/perf/latch-bench}
[ -x "$BENCH" ] || fail "latch-bench not built at $BENCH"
PREFIX=bench-rt-$$
BENCH_MAC=02:00:c6:13:00:02

# The lab profile with the route appended (tools/lab reads
# LATCH_LAB_PROFILE).
export LATCH_LAB_PROFILE=$TMP/lab-route.conf
cat "$ROOT/firmware-cfg/lab.conf" - >"$LATCH_LAB_PROFILE" <<EOF_CONF

[route bench]
match = 9000
key = latch
pool = bench

[backend bench1]
pool = bench
addr = 198.19.0.2
mac = $BENCH_MAC
port = 9100
via = memif0
EOF_CONF

lab_start
trap 'rc=$?; rm -rf /var/run/dpdk/$PREFIX-*; (exit $rc); lab_cleanup' EXIT

# run NAME ARGS...: latch-bench route mode on the lab's memif port.
run() {
	local name=$1
	shift
	say "latch-bench --mode route $*"
	"$BENCH" --mode route --socket /run/latch/lab1/memif.sock --queues 2 \
		--lcore 0 --mac "$BENCH_MAC" --quiet \
		--file-prefix "$PREFIX-$name" --json "$TMP/$name.json" "$@" \
		2>"$TMP/$name.err" || {
		cat "$TMP/$name.err" >&2
		fail "latch-bench $name exited with an error"
	}
}

# jq-less field access: field FILE EXPR (python over the report as d).
field() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# route_forwarded: latchd's per-route counter of route "bench".
route_forwarded() {
	ctl route list | python3 -c '
import json, sys
for r in json.load(sys.stdin)["routes"]:
    if r["name"] == "bench":
        print(r["forwarded"])'
}

fwd0=$(route_forwarded)
[ -n "$fwd0" ] || fail "route bench is not in latchctl route list"
run routed --duration 1 --outstanding 4 --route-port 9000
sent=$(field "$TMP/routed.json" "d['counters']['sent']")
assert_eq "$(field "$TMP/routed.json" "d['mode']")" "route" "report mode"
assert_eq "$(field "$TMP/routed.json" "d['config']['route_port']")" "9000" "route_port"
assert_gt "$sent" 0 "frames sent"
assert_eq "$(field "$TMP/routed.json" "d['counters']['answered']")" "$sent" "answered"
assert_eq "$(field "$TMP/routed.json" "d['counters']['timeouts']")" "0" "timeouts"
assert_eq "$(field "$TMP/routed.json" "d['counters']['unmatched']")" "0" "unmatched"
assert_gt "$(field "$TMP/routed.json" "d['latency']['count']")" 0 "latency samples"
fwd1=$(route_forwarded)
assert_eq "$((fwd1 - fwd0))" "$sent" "latchd's forwarded count for route bench"

# No route on 9001: latchd drops the frames (not_for_us), nothing returns.
run unrouted --duration 0.2 --outstanding 2 --route-port 9001 --timeout-ms 200
sent=$(field "$TMP/unrouted.json" "d['counters']['sent']")
assert_gt "$sent" 0 "frames sent to 9001"
assert_eq "$(field "$TMP/unrouted.json" "d['counters']['answered']")" "0" "answers from 9001"
assert_eq "$(field "$TMP/unrouted.json" "d['counters']['timeouts']")" "$sent" "timeouts on 9001"
assert_eq "$(route_forwarded)" "$fwd1" "forwarded count after 9001"
