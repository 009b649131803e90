#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# latch-bench against the lab (tools/lab up): short closed-loop runs (try,
# and wait with several clients contending), and a short open loop. Every
# request must get exactly one answer (sent == answered + timeouts, no
# unmatched answer, zero timeouts in the closed loops), every QUEUED wait
# must end in one GRANTED, and the JSON report must carry its documented
# fields (docs/benchmarks.md). Nothing here looks at a timing.
source "$(dirname "$0")/lib.sh"

BENCH=${LATCH_BENCH:-$LATCH_BUILD/perf/latch-bench}
[ -x "$BENCH" ] || fail "latch-bench not built at $BENCH"
PREFIX=bench-it-$$

"$BENCH" --help | grep -q -- "--outstanding" || fail "--help lacks --outstanding"
"$BENCH" --no-such-option >/dev/null 2>&1 && fail "a bad option was accepted"

lab_start
# Our EAL runtime directories go with the test (hugepage files are
# unlinked by latch-bench itself).
trap 'rc=$?; rm -rf /var/run/dpdk/$PREFIX-*; (exit $rc); lab_cleanup' EXIT

# run NAME ARGS...: latch-bench on the lab's memif port, JSON in $TMP/NAME.
run() {
	local name=$1
	shift
	say "latch-bench $*"
	"$BENCH" --socket /run/latch/lab1/memif.sock --queues 2 --lcore 0 \
		--file-prefix "$PREFIX-$name" --json "$TMP/$name.json" "$@" \
		2>"$TMP/$name.err" || {
		cat "$TMP/$name.err" >&2
		fail "latch-bench $name exited with an error"
	}
	grep -q "latch-bench: .* sent" "$TMP/$name.err" ||
		fail "$name: no progress line on stderr"
}

# check NAME MODE: the report's fields and the one-answer accounting.
check() {
	python3 - "$TMP/$1.json" "$2" <<'PY' || fail "$1: report check failed"
import json, sys

path, closed = sys.argv[1], sys.argv[2] == "closed"
d = json.load(open(path))
errors = []


def need(cond, what):
    if not cond:
        errors.append(what)


for k in ("tool", "schema", "mode", "loop", "config", "elapsed_s",
          "throughput", "counters", "status", "latency", "latency_acquire",
          "latency_release", "latency_grant"):
    need(k in d, "field %s" % k)
need(d.get("tool") == "latch-bench", "tool name")
need(d.get("mode") == "lock", "mode lock")
for k in ("queues", "outstanding", "rate", "arrival", "duration_s", "keys",
          "dist", "theta", "wait", "shared_ratio", "clients", "key_len",
          "frame_len", "seed", "timeout_ms"):
    need(k in d["config"], "config.%s" % k)
for k in ("requests_per_s", "answers_per_s", "pairs_per_s", "offered_per_s"):
    need(k in d["throughput"], "throughput.%s" % k)
c = d["counters"]
for k in ("sent", "answered", "timeouts", "unmatched", "acquires",
          "releases", "granted", "grant_timeouts", "acks_sent"):
    need(k in c, "counters.%s" % k)
h = d["latency"]
for k in ("unit", "count", "min", "max", "mean", "p50", "p90", "p99",
          "p99.9", "p99.99", "buckets"):
    need(k in h, "latency.%s" % k)
if errors:
    sys.exit("missing: " + ", ".join(errors))

# Exactly one answer per request.
need(c["sent"] > 0, "something was sent")
need(c["sent"] == c["answered"] + c["timeouts"],
     "sent %d != answered %d + timeouts %d" % (c["sent"], c["answered"],
                                               c["timeouts"]))
need(c["unmatched"] == 0, "unmatched answers: %d" % c["unmatched"])
need(c["sent"] == c["acquires"] + c["releases"], "acquires + releases")
if closed:
    need(c["timeouts"] == 0, "timeouts in a closed loop: %d" % c["timeouts"])
# Every answer has one status and one latency sample.
need(sum(d["status"].values()) == c["answered"], "status total")
need(h["count"] == c["answered"], "latency count")
need(sum(b[2] for b in h["buckets"]) == h["count"], "bucket total")
need(d["latency_acquire"]["count"] + d["latency_release"]["count"]
     == h["count"], "per-op latency counts")
need(h["min"] <= h["p50"] <= h["p90"] <= h["p99"] <= h["p99.9"]
     <= h["p99.99"] <= h["max"], "percentiles in order")
st = d["status"]
# Every QUEUED answer ends in one GRANTED (ok or timeout) or a counted
# grant timeout.
need(st["queued"] == c["granted"] + c["grant_timeouts"],
     "queued %d != granted %d + grant timeouts %d" % (
         st["queued"], c["granted"], c["grant_timeouts"]))
need(c["acks_sent"] >= c["granted"], "every GRANTED acknowledged")
if errors:
    sys.exit("; ".join(errors))
print("sent %d answered %d timeouts %d ok %d busy %d queued %d" % (
    c["sent"], c["answered"], c["timeouts"], st["ok"], st["busy"],
    st["queued"]))
PY
}

run try --duration 2 --outstanding 4 --keys 64
check try closed

run wait --duration 2 --outstanding 4 --clients 4 --keys 8 --dist zipf \
	--wait --wait-ms 1000 --shared 0.3
check wait closed
queued=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"]["queued"])' "$TMP/wait.json")
assert_gt "$queued" 0 "QUEUED answers with 4 clients on 8 keys"

run open --duration 1 --rate 2000 --arrival poisson --keys 256
check open open
