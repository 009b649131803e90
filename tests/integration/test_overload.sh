#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Overload: a queue deeper than workers.shed_depth gets BUSY for its
# ACQUIREs instead of a wait that grows (docs/operations.md, "overload").
# latchd is stopped (SIGSTOP) while latch-bench keeps sending, so when it
# resumes its worker finds a full memif ring however fast this machine
# is: it must refuse some ACQUIREs (counter shed_busy > 0, BUSY answers
# seen by the client), and still answer every request exactly once. The
# same run with shedding off must refuse none. And a closed loop with no
# more requests in flight than shed_depth is never refused, however fast
# it sends: its queue is never deeper than what it has in flight. Nothing
# here looks at a timing: the stop only makes the queue deep.
source "$(dirname "$0")/lib.sh"

BENCH=${LATCH_BENCH:-$LATCH_BUILD/perf/latch-bench}
[ -x "$BENCH" ] || fail "latch-bench not built at $BENCH"
PREFIX=overload-it-$$

# overload_run SHED_DEPTH: one lab, one stopped-and-resumed latch-bench
# run; checks the one-answer accounting and leaves "shed_busy busy" in
# $TMP/result.
overload_run() {
	local depth=$1 pid bp shed
	lab_start --set workers.count=1 --set eal.lcores=0@0,1@1 \
		--set "workers.shed_depth=$depth"
	pid=$("$LAB" status --json | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["nodes"][0]["pid"])')
	[ -n "$pid" ] && kill -0 "$pid" || fail "no latchd pid"
	"$BENCH" --socket /run/latch/lab1/memif.sock --queues 1 --lcore 0 \
		--file-prefix "$PREFIX-$depth" --json "$TMP/ov$depth.json" \
		--rate 400000 --arrival const --duration 3 --keys 1000000 \
		--timeout-ms 20000 2>"$TMP/ov$depth.err" &
	bp=$!
	BG_PIDS+=("$bp")
	wait_until 30 grep -q "sent" "$TMP/ov$depth.err" ||
		fail "latch-bench made no progress: $(cat "$TMP/ov$depth.err")"
	# Stopped, its worker reads nothing while latch-bench fills the
	# ring; resumed, the first pass finds the ring full.
	kill -STOP "$pid"
	sleep 0.5
	kill -CONT "$pid"
	wait "$bp" || {
		cat "$TMP/ov$depth.err" >&2
		fail "latch-bench exited with an error"
	}
	shed=$(counter shed_busy)
	python3 - "$TMP/ov$depth.json" "$shed" >"$TMP/result" <<'PY' ||
import json, sys
d = json.load(open(sys.argv[1]))
c = d["counters"]
if c["sent"] != c["answered"] + c["timeouts"] or c["unmatched"] or c["timeouts"]:
    sys.exit("sent %d answered %d timeouts %d unmatched %d" % (
        c["sent"], c["answered"], c["timeouts"], c["unmatched"]))
print(sys.argv[2], d["status"]["busy"])
PY
		fail "shed_depth $depth: not one answer per request"
	rm -rf /var/run/dpdk/"$PREFIX"-*
	"$LAB" down >/dev/null 2>&1 || true
	exec {LAB_LOCK_FD}>&-
}

# closed_run SHED_DEPTH OUTSTANDING: a closed loop at full speed; leaves
# "shed_busy busy" in $TMP/result.
closed_run() {
	local depth=$1 out=$2
	lab_start --set workers.count=1 --set eal.lcores=0@0,1@1 \
		--set "workers.shed_depth=$depth"
	"$BENCH" --socket /run/latch/lab1/memif.sock --queues 1 --lcore 0 \
		--file-prefix "$PREFIX-c$depth" --json "$TMP/cl$depth.json" \
		--outstanding "$out" --duration 2 --keys 1000000 --quiet \
		2>"$TMP/cl$depth.err" || {
		cat "$TMP/cl$depth.err" >&2
		fail "latch-bench exited with an error"
	}
	python3 - "$TMP/cl$depth.json" "$(counter shed_busy)" \
		>"$TMP/result" <<'PY' ||
import json, sys
d = json.load(open(sys.argv[1]))
c = d["counters"]
if c["sent"] != c["answered"] or c["unmatched"] or c["timeouts"]:
    sys.exit("sent %d answered %d timeouts %d unmatched %d" % (
        c["sent"], c["answered"], c["timeouts"], c["unmatched"]))
print(sys.argv[2], d["status"]["busy"], c["answered"])
PY
		fail "closed loop: not one answer per request"
	rm -rf /var/run/dpdk/"$PREFIX"-*
	"$LAB" down >/dev/null 2>&1 || true
	exec {LAB_LOCK_FD}>&-
}

# Answers go out between bursts, so a fast client's next requests arrive
# while the worker still reads: they must not count as depth.
closed_run 64 64
read -r shed busy answered <"$TMP/result"
say "shed_depth 64, 64 in flight: $answered answers, shed_busy $shed, BUSY $busy"
[ "$answered" -gt 0 ] || fail "the closed loop got no answers"
[ "$shed" -eq 0 ] || fail "a closed loop of 64 with shed_depth 64 was refused $shed times"

overload_run 64
read -r shed busy <"$TMP/result"
say "shed_depth 64: shed_busy $shed, BUSY answers $busy"
[ "$shed" -gt 0 ] || fail "a deep queue refused no ACQUIRE (shed_busy 0)"
[ "$busy" -ge "$shed" ] || fail "the client saw $busy BUSY, latchd sent $shed"

overload_run 0
read -r shed busy <"$TMP/result"
say "shed_depth 0: shed_busy $shed, BUSY answers $busy"
[ "$shed" -eq 0 ] || fail "shedding off, yet $shed ACQUIREs were refused"
