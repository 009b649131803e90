#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# perf/bench.sh: latch's benchmark and its reference, in the same run
# (docs/benchmarks.md; `make bench` calls it).
#
#   1. reference: dpdk-testpmd in macswap mode on a memif server socket,
#      driven by latch-bench --mode echo: this machine's packet-rate limit
#      and round trip over the same vdev path;
#   2. latch: latchd on the lab profile (tools/lab up), driven by
#      latch-bench --mode lock with the same frame size and core layout;
#      then with one worker alone on CPU 1 (workers.count=1) against a
#      one-queue testpmd: the like-for-like layout;
#   3. route: the same latchd, with a route (defined by --set at start-up)
#      whose one backend is latch-bench itself, driven by latch-bench
#      --mode route: latchd's router forwards every frame back over memif;
#   4. replicated: a 3-node lab cluster (tools/lab up --nodes 3 --links
#      memif: the nodes replicate over memif peer links), driven
#      by latch-bench --mode lock over the leader's memif socket and
#      address, against the single-node lock figures of step 2;
#   5. failover: perf/failover-time.sh (kill -9 of the leader to the first
#      grant from the new leader), unless --no-failover;
#
# then writes perf/results/latest.json (every set of figures and the
# ratios) and, with gnuplot, latency-cdf.png and throughput.png next to it.
#
# Core layout (2-core lab machine): latch-bench sends from CPU 0; the
# server's fast path runs on one lcore on CPU 1 (testpmd's forwarding
# lcore serves both queues; latchd's one worker lcore serves both
# partitions, or its one partition in the one-worker runs); the main
# lcores of testpmd and latchd sleep on CPU 0.
#
# Never fails on a timing: figures are measured, not asserted.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A release build by default (-O3, LATCH_DEBUG_ASSERT compiled out): the
# figures are those of what a deployment runs, not of the per-packet debug
# checks (docs/benchmarks.md "Build"). BUILD=dir measures another build dir
# as it is configured; latest.json records its buildtype and b_ndebug.
BUILD=${BUILD:-build-release}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=${BENCH_OUT:-$ROOT/perf/results}
BENCH_LCORE=${BENCH_LCORE:-0}
# The server's fast path on the other CPU, one worker lcore for both
# partitions as testpmd's one forwarding lcore serves both queues
# (docs/design.md, "Partitions and lcores"); latchd's main stays on CPU 0.
LAB_LCORES=${BENCH_LAB_LCORES:-0@0,1@1}
# The one-worker layout: latchd's only worker alone on CPU 1, as testpmd's
# one forwarding lcore is (docs/benchmarks.md "Core layout"), with the
# lab profile's idle policy sleep (BENCH_LAB1_IDLE): with poll, latchd's
# worker crashed in net_memif's rx/tx when a latch-bench run disconnected
# (docs/benchmarks.md, "Issue 4").
LAB1_LCORES=${BENCH_LAB1_LCORES:-0@0,1@1}
LAB1_IDLE=${BENCH_LAB1_IDLE:-sleep}
REF_DIR=/run/latch-bench
REF_SOCK=$REF_DIR/ref.sock
LAB_SOCK=/run/latch/lab1/memif.sock
# Frames of both halves: 42 bytes of headers + 56-byte message + the key.
KEY_LEN=${BENCH_KEY_LEN:-16}
# Requests in flight per queue that saturate the path here: a memif round
# trip is a few us and a burst is 32, so 32 keep both sides busy.
SAT_OUTSTANDING=${BENCH_SAT_OUTSTANDING:-32}
# Route run: latchd routes UDP port ROUTE_PORT (key: the latch message's
# key) to one backend, latch-bench's own memif address and MAC, port
# ROUTE_BACKEND_PORT (docs/routing.md; docs/benchmarks.md "Routing").
ROUTE_PORT=9000
ROUTE_BACKEND_PORT=9100
BENCH_MAC=02:00:c6:13:00:02
ROUTE_SETS=(--set route.bench.match=$ROUTE_PORT --set route.bench.key=latch
	--set route.bench.pool=bench --set backend.bench1.pool=bench
	--set backend.bench1.addr=198.19.0.2 --set backend.bench1.mac=$BENCH_MAC
	--set backend.bench1.port=$ROUTE_BACKEND_PORT
	--set backend.bench1.via=memif0)
QUICK=0
FAILOVER=1

usage() {
	cat <<USAGE
usage: perf/bench.sh [--quick] [--no-failover] [--out DIR] [--help]

Runs the reference (dpdk-testpmd macswap over memif, latch-bench --mode echo)
and latch (latchd lab profile via tools/lab, latch-bench --mode lock, then
--mode route through a route whose backend is latch-bench) back to back on
the same cores, then writes DIR/latest.json (default perf/results) with
every set of figures and the ratios rate_ratio, p50_ratio, p99_ratio,
route_rate_ratio, route_p50_ratio, and draws DIR/latency-cdf.png and DIR/throughput.png with gnuplot.
Then the same lock runs against the leader of a 3-node lab cluster
(section "replicated", ratios replicated_p50_ratio, replicated_rate_ratio
against the single-node runs) and the failover time (DIR/failover.json,
perf/failover-time.sh).

  --quick     a few seconds per run, 2 failover trials (about two minutes)
  --no-failover  skip the failover measurement
  --out DIR   where the results go
  --help      this text

Environment: BUILD (build dir, default build-release: configured here as
--buildtype=release -Db_ndebug=true if missing), BENCH_LCORE (CPU of
latch-bench, default 0), BENCH_LAB_LCORES (latchd eal.lcores, default
$LAB_LCORES), BENCH_LAB1_LCORES and BENCH_LAB1_IDLE (the one-worker runs,
default $LAB1_LCORES and $LAB1_IDLE), BENCH_KEY_LEN (default 16),
BENCH_SAT_OUTSTANDING (default 32), BENCH_REPL_LINKS (how the 3-node
run's dataplanes replicate: memif peer links, the default, or tap, the
bridge), BENCH_REPL_SLEEP_POLLS (its workers.idle_sleep_polls, default
4096 with memif links, 64 with tap), BENCH_SWEEP_KEYS (keys of the
open-loop sweep, default 1000000).
Run as root (hugepages, the lab's namespace).
USAGE
}

while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1; shift ;;
	--no-failover) FAILOVER=0; shift ;;
	--out) OUT=${2:?--out needs a directory}; shift 2 ;;
	--out=*) OUT=${1#--out=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

# The release dir is ours to configure; any other is used as configured.
if [ ! -f "$BUILD/build.ninja" ]; then
	if [ "$BUILD" != "$ROOT/build-release" ]; then
		echo "bench: $BUILD is not a configured build dir" >&2
		exit 1
	fi
	meson setup "$BUILD" "$ROOT" --buildtype=release -Db_ndebug=true >&2
fi
ninja -C "$BUILD" dataplane/latchd control/latch-control client/latchctl \
	perf/latch-bench >&2 ||
	ninja -C "$BUILD" >&2
BUILD_TYPE=$(meson introspect --buildoptions "$BUILD" | python3 -c \
	'import json,sys; o={x["name"]: x["value"] for x in json.load(sys.stdin)}; print(o["buildtype"], o["b_ndebug"])')
BUILD_NDEBUG=${BUILD_TYPE#* }
BUILD_TYPE=${BUILD_TYPE%% *}
[ "$BUILD_TYPE" = release ] && [ "$BUILD_NDEBUG" = true ] ||
	echo "bench: $BUILD is buildtype=$BUILD_TYPE b_ndebug=$BUILD_NDEBUG," \
		"not a release build: figures include the debug checks" >&2

# One lab per machine: wait for any integration test or other bench that
# holds it (tests/integration/lib.sh takes the same lock).
mkdir -p /run/lock
exec {LAB_LOCK_FD}>/run/lock/latch-lab.lock
if ! flock -w 900 "$LAB_LOCK_FD"; then
	echo "bench: the lab is busy (/run/lock/latch-lab.lock held for 900 s)" >&2
	exit 1
fi

# Alternating reference/latchd pairs of the one-worker runs (step 3b):
# the median of 3 still swung from 0.80 to 1.02 between runs for routing,
# where 8 alternating rounds gave 0.99-1.00 (docs/benchmarks.md).
PAIRS_1WORKER=${BENCH_PAIRS_1WORKER:-7}
if [ "$QUICK" -eq 1 ]; then
	FAILOVER_TRIALS=2
	DUR=2
	SWEEP_DUR=1
	SWEEP="0.2 0.6 1.0 1.5 2.0"
else
	FAILOVER_TRIALS=5
	DUR=10
	SWEEP_DUR=3
	SWEEP="0.2 0.4 0.6 0.8 0.9 1.0 1.1 1.25 1.5 2.0"
fi

BENCH=$BUILD/perf/latch-bench
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (hugepages, namespaces)" >&2; exit 1; }
[ -x "$BENCH" ] || { echo "bench: $BENCH not built (make, or ninja -C $BUILD)" >&2; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "bench: dpdk-testpmd missing (apt-get install dpdk)" >&2; exit 1; }

mkdir -p "$OUT" "$REF_DIR"
WORK=$(mktemp -d /tmp/latch-bench.XXXXXX)
TESTPMD_PID=
LAB_UP=0

# Undo what we started, by PID, and the files of our own prefixes.
cleanup() {
	if [ -n "$TESTPMD_PID" ] && kill -0 "$TESTPMD_PID" 2>/dev/null; then
		kill -TERM "$TESTPMD_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$TESTPMD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$TESTPMD_PID" 2>/dev/null || true
	fi
	if [ "$LAB_UP" -eq 1 ]; then
		LATCH_BUILD=$BUILD "$ROOT/tools/lab" down >/dev/null 2>&1 || true
	fi
	rm -f "$REF_SOCK"
	rmdir "$REF_DIR" 2>/dev/null || true
	rm -f /dev/hugepages/bench-*map_* 2>/dev/null || true
	rm -rf /var/run/dpdk/bench-* 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ROOT/tools/hugepages.sh"
free_pages=$(awk '/HugePages_Free/ { print $2 }' /proc/meminfo)
if [ "${free_pages:-0}" -ge 256 ] && mountpoint -q /dev/hugepages; then
	MEM_ARGS=(--huge-unlink)
else
	MEM_ARGS=(--no-huge -m 512)
fi

# bench_run NAME ARGS...: one latch-bench run, its JSON in $WORK/NAME.json.
bench_run() {
	local name=$1
	shift
	echo "bench: $name: latch-bench $*" >&2
	# One retry: a memif connection that a busy machine let time out
	# is not a figure (the second failure stops the script).
	"$BENCH" --lcore "$BENCH_LCORE" --key-len "$KEY_LEN" --quiet \
		--file-prefix "bench-$name" --json "$WORK/$name.json" "$@" ||
		"$BENCH" --lcore "$BENCH_LCORE" --key-len "$KEY_LEN" --quiet \
			--file-prefix "bench-$name" --json "$WORK/$name.json" "$@"
}

# json_get FILE EXPR: one figure out of a report.
json_get() {
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---- 1. reference: testpmd macswap ---------------------------------------
# start_testpmd Q: the reference forwarder with Q queues, one forwarding
# lcore on CPU 1 serving them all.
start_testpmd() {
	rm -f "$REF_SOCK"
	echo "bench: reference: dpdk-testpmd macswap on $REF_SOCK, $1 queue(s)" >&2
	dpdk-testpmd -l 0,1 --file-prefix bench-ref --no-pci "${MEM_ARGS[@]}" \
		--vdev "net_memif0,role=server,socket=$REF_SOCK,socket-abstract=no" \
		-- --forward-mode=macswap --rxq="$1" --txq="$1" --nb-cores=1 \
		--stats-period 1 </dev/null >"$WORK/testpmd.log" 2>&1 &
	TESTPMD_PID=$!
	for _ in $(seq 100); do
		[ -S "$REF_SOCK" ] && break
		if ! kill -0 "$TESTPMD_PID" 2>/dev/null; then
			cat "$WORK/testpmd.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	[ -S "$REF_SOCK" ] || { echo "bench: testpmd made no socket" >&2; exit 1; }
}

stop_testpmd() {
	kill -TERM "$TESTPMD_PID" 2>/dev/null || true
	wait "$TESTPMD_PID" 2>/dev/null || true
	TESTPMD_PID=
}

start_testpmd 2
REF=(--mode echo --socket "$REF_SOCK" --queues 2)
bench_run ref_o1 "${REF[@]}" --duration "$DUR" --outstanding 1
bench_run ref_sat "${REF[@]}" --duration "$DUR" --outstanding "$SAT_OUTSTANDING"
stop_testpmd

# ---- 2. latch: latchd on the lab profile ---------------------------------
LAB_UP=1
LATCH_BUILD=$BUILD "$ROOT/tools/lab" up --set "eal.lcores=$LAB_LCORES" \
	"${ROUTE_SETS[@]}" >&2
LOCK=(--mode lock --socket "$LAB_SOCK" --queues 2)
bench_run latch_o1 "${LOCK[@]}" --duration "$DUR" --outstanding 1
bench_run latch_sat "${LOCK[@]}" --duration "$DUR" --outstanding "$SAT_OUTSTANDING"
# Open-loop sweep around capacity, over SWEEP_KEYS keys: enough that two
# requests in flight rarely want the same key, so a BUSY answer measures
# overload (workers.shed_depth) rather than a lock held by another.
SWEEP_KEYS=${BENCH_SWEEP_KEYS:-1000000}
# Open-loop sweep around capacity. Arrivals are ACQUIREs (each granted one
# is followed by its RELEASE), so capacity is the closed loop's ACQUIRE rate.
cap=$(json_get "$WORK/latch_sat.json" "d['counters']['acquires'] / d['elapsed_s']")
sweep_files=()
for f in $SWEEP; do
	rate=$(python3 -c "print(max(1, round($cap * $f)))")
	bench_run "sweep_$f" "${LOCK[@]}" --duration "$SWEEP_DUR" \
		--rate "$rate" --arrival poisson --keys "$SWEEP_KEYS"
	sweep_files+=("$f:$WORK/sweep_$f.json")
done
# ---- 3. route: the same latchd routes frames back to latch-bench -------
ROUTE=(--mode route --socket "$LAB_SOCK" --queues 2 --mac "$BENCH_MAC"
	--route-port "$ROUTE_PORT")
bench_run route_o1 "${ROUTE[@]}" --duration "$DUR" --outstanding 1
bench_run route_sat "${ROUTE[@]}" --duration "$DUR" --outstanding "$SAT_OUTSTANDING"
LATCH_BUILD=$BUILD "$ROOT/tools/lab" exec latchctl --json route list \
	>"$WORK/route_list.json"
LATCH_BUILD=$BUILD "$ROOT/tools/lab" down >&2
LAB_UP=0

# ---- 3b. latch, one worker: latchd's one worker alone on CPU 1 ----------
# The same lock runs against the lab with workers.count=1: the layout of
# the reference (one server lcore on CPU 1), where the two-worker runs
# above make latchd's workers time-share CPU 1. One worker, one queue.
# The reference here is testpmd with one queue (a memif client with fewer
# queues than the server stalls), the same requests in flight in all (2 x
# SAT_OUTSTANDING on the one queue). Its rate swung from 4.3 to 6.0 Mpps
# between runs minutes apart on the lab machine, so the reference and
# latchd alternate PAIRS_1WORKER times, each ratio taken within a pair,
# and the JSON reports the median pair (and every pair).
REF1=(--mode echo --socket "$REF_SOCK" --queues 1)
LOCK1=(--mode lock --socket "$LAB_SOCK" --queues 1)
for r in $(seq "$PAIRS_1WORKER"); do
	start_testpmd 1
	bench_run "ref1_sat_$r" "${REF1[@]}" --duration "$DUR" \
		--outstanding $((2 * SAT_OUTSTANDING))
	stop_testpmd
	LAB_UP=1
	LATCH_BUILD=$BUILD "$ROOT/tools/lab" up --set workers.count=1 \
		--set "eal.lcores=$LAB1_LCORES" --set "workers.idle=$LAB1_IDLE" \
		"${ROUTE_SETS[@]}" >&2
	[ "$r" -gt 1 ] || bench_run latch1_o1 "${LOCK1[@]}" --duration "$DUR" \
		--outstanding 1
	bench_run "latch1_sat_$r" "${LOCK1[@]}" --duration "$DUR" \
		--outstanding $((2 * SAT_OUTSTANDING))
	# Routing with the same one worker, one queue, 64 in flight: like
	# for like with the one-queue reference (route_rate_ratio_1worker).
	bench_run "route1_sat_$r" --mode route --socket "$LAB_SOCK" --queues 1 \
		--mac "$BENCH_MAC" --route-port "$ROUTE_PORT" --duration "$DUR" \
		--outstanding $((2 * SAT_OUTSTANDING))
	LATCH_BUILD=$BUILD "$ROOT/tools/lab" down >&2
	LAB_UP=0
done

# ---- 4. replicated: the same lock runs against a 3-node cluster's leader --
# Every node gets the same core layout (the three latchd's worker lcores,
# each serving its node's two partitions, share CPU 1; their main lcores
# and the latch-controls sleep on CPU 0); the
# leader answers a request once its entry is committed (a majority, i.e.
# one follower, has appended it: docs/cluster.md).
# The nodes replicate over memif peer links (tools/lab up --links memif,
# docs/cluster.md "Peer links"); BENCH_REPL_LINKS=tap measures the bridge
# instead. Three worker lcores share CPU 1 here, so how they give it to
# each other decides the figures (docs/design.md, "idle policy"):
# - links memif: a worker yields the CPU at every empty pass from the
#   first (idle_pause_polls = idle_yield_polls = 1) and sleeps only after
#   REPL_SLEEP_POLLS of them: a memif frame does not wake a sleeper.
#   p50 at 1 outstanding 25 us with the yield every 16th pass, 15 us with
#   it every pass (docs/benchmarks.md, "Replicated cluster", session 9).
# - links tap: workers spin REPL_SLEEP_POLLS (64) empty passes, yielding
#   every 16th after 16, then sleep until a frame on the TAP queue wakes
#   them; one that spins for a millisecond after sending an APPEND holds
#   the CPU the follower's worker needs to answer it (0.75 ms p50 with
#   the lab's 1024, 0.25 ms with 64, two worker lcores a node).
REPL_LINKS=${BENCH_REPL_LINKS:-memif}
case $REPL_LINKS in
memif)
	REPL_SLEEP_POLLS=${BENCH_REPL_SLEEP_POLLS:-4096}
	REPL_PAUSE_POLLS=1
	REPL_YIELD_POLLS=1
	;;
tap)
	REPL_SLEEP_POLLS=${BENCH_REPL_SLEEP_POLLS:-64}
	REPL_PAUSE_POLLS=$((REPL_SLEEP_POLLS < 16 ? REPL_SLEEP_POLLS : 16))
	REPL_YIELD_POLLS=16
	;;
*)
	echo "bench: BENCH_REPL_LINKS must be memif or tap, not '$REPL_LINKS'" >&2
	exit 2
	;;
esac
LAB_UP=1
LATCH_BUILD=$BUILD "$ROOT/tools/lab" up --nodes 3 --links "$REPL_LINKS" \
	--set "eal.lcores=$LAB_LCORES" \
	--set "workers.idle_sleep_polls=$REPL_SLEEP_POLLS" \
	--set "workers.idle_pause_polls=$REPL_PAUSE_POLLS" \
	--set "workers.idle_yield_polls=$REPL_YIELD_POLLS" >&2
leader=
for _ in $(seq 200); do
	leader=$(LATCH_BUILD=$BUILD "$ROOT/tools/lab" leader 2>/dev/null) && break
	sleep 0.1
done
[ -n "$leader" ] || { echo "bench: replicated: no leader in 20 s" >&2; exit 1; }
# The leader's dataplane serves once its view says LEADER and the no-op
# is appended; a second is ample for that on the lab machine.
sleep 1
k=${leader#lab}
echo "bench: replicated: leader $leader" >&2
REPL=(--mode lock --socket "/run/latch/$leader/memif.sock"
	--server-ip "198.19.$k.1" --client-ip "198.19.$k.2" --queues 2)
bench_run repl_o1 "${REPL[@]}" --duration "$DUR" --outstanding 1
bench_run repl_sat "${REPL[@]}" --duration "$DUR" --outstanding "$SAT_OUTSTANDING"
LATCH_BUILD=$BUILD "$ROOT/tools/lab" status --json >"$WORK/repl_status.json"
echo "$leader" >"$WORK/repl_leader"
LATCH_BUILD=$BUILD "$ROOT/tools/lab" down >&2
LAB_UP=0

# ---- 5. latest.json and the plots ----------------------------------------
REPL_SLEEP_POLLS=$REPL_SLEEP_POLLS REPL_PAUSE_POLLS=$REPL_PAUSE_POLLS \
	REPL_YIELD_POLLS=$REPL_YIELD_POLLS REPL_LINKS=$REPL_LINKS \
	python3 - "$OUT" "$WORK" "$QUICK" "$BENCH_LCORE" "$LAB_LCORES" \
	"$LAB1_LCORES" "$LAB1_IDLE" "$BUILD_TYPE" "$BUILD_NDEBUG" \
	"${sweep_files[@]}" <<'PY'
import json, os, platform, sys, time

out, work, quick, lcore, lab_lcores = sys.argv[1:6]
lab1_lcores, lab1_idle, build_type, build_ndebug = sys.argv[6:10]
sweep_args = sys.argv[10:]


def load(name):
    with open(os.path.join(work, name + ".json")) as f:
        return json.load(f)


ref_o1, ref_sat = load("ref_o1"), load("ref_sat")
lat_o1, lat_sat = load("latch_o1"), load("latch_sat")
l1_o1 = load("latch1_o1")
rt_o1, rt_sat = load("route_o1"), load("route_sat")


def rate(d):
    return d["throughput"]["answers_per_s"]


# The one-worker pairs (step 3b): each ratio within its pair; the pair
# whose lock ratio is the median stands for all in the usual fields.
pairs = []
r = 1
while os.path.exists(os.path.join(work, "ref1_sat_%d.json" % r)):
    p = {"ref": load("ref1_sat_%d" % r), "latch": load("latch1_sat_%d" % r),
         "route": load("route1_sat_%d" % r)}
    p["lock_ratio"] = rate(p["latch"]) / rate(p["ref"])
    p["route_ratio"] = rate(p["route"]) / rate(p["ref"])
    pairs.append(p)
    r += 1


def median_pair(key):
    return sorted(pairs, key=lambda p: p[key])[len(pairs) // 2]


mid = median_pair("lock_ratio")
ref1_sat, l1_sat = mid["ref"], mid["latch"]
route_mid_pair = median_pair("route_ratio")
route_mid = route_mid_pair["route_ratio"]
rt1_sat = route_mid_pair["route"]
pairs_1worker = [{"reference_per_s": rate(p["ref"]),
                  "latch_per_s": rate(p["latch"]),
                  "route_per_s": rate(p["route"]),
                  "rate_ratio": round(p["lock_ratio"], 4),
                  "route_rate_ratio": round(p["route_ratio"], 4)}
                 for p in pairs]
with open(os.path.join(work, "route_list.json")) as f:
    route_list = json.load(f)
rp_o1, rp_sat = load("repl_o1"), load("repl_sat")
with open(os.path.join(work, "repl_leader")) as f:
    repl_leader = f.read().strip()
with open(os.path.join(work, "repl_status.json")) as f:
    repl_nodes = [{"name": n.get("name"), "raft": n.get("raft")}
                  for n in json.load(f).get("nodes", [])]


def figures(d):
    h = d["latency"]
    return {"answers_per_s": d["throughput"]["answers_per_s"],
            "p50_ns": h["p50"], "p90_ns": h["p90"], "p99_ns": h["p99"],
            "p99.9_ns": h["p99.9"], "p99.99_ns": h["p99.99"],
            "max_ns": h["max"], "sent": d["counters"]["sent"],
            "timeouts": d["counters"]["timeouts"]}


def ratio(a, b):
    return round(a / b, 4) if b else None


sweep = []
for arg in sweep_args:
    factor, path = arg.split(":", 1)
    with open(path) as f:
        d = json.load(f)
    sweep.append({"factor": float(factor),
                  "offered_per_s": d["config"]["rate"],
                  "requests_per_s": d["throughput"]["requests_per_s"],
                  # Goodput: answers that did the work asked (status
                  # ok); BUSY refusals and errors are answers, not work.
                  "answers_per_s": d["throughput"]["answers_per_s"],
                  "goodput_per_s": round(
                      d["throughput"]["answers_per_s"] * d["status"]["ok"]
                      / max(1, d["counters"]["answered"]), 1),
                  "p50_ns": d["latency"]["p50"],
                  "p99_ns": d["latency"]["p99"],
                  "timeouts": d["counters"]["timeouts"],
                  "busy": d["status"]["busy"]})

cpu = ""
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break

res = {
    "schema": 1,
    "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "quick": quick == "1",
    "machine": {"cpus": os.cpu_count(), "cpu": cpu,
                "kernel": platform.release()},
    "layout": {"latch_bench_cpu": int(lcore),
               "testpmd": "-l 0,1 --nb-cores=1: forwarding lcore on CPU 1",
               "latchd_eal_lcores": lab_lcores},
    "build": {"buildtype": build_type, "b_ndebug": build_ndebug},
    "frame_len": lat_o1["config"]["frame_len"],
    "reference": {
        "what": "dpdk-testpmd --forward-mode=macswap over net_memif, "
                "latch-bench --mode echo",
        "one_outstanding": figures(ref_o1),
        "saturation": figures(ref_sat),
        "outstanding_sat": ref_sat["config"]["outstanding"]},
    "latch": {
        "what": "latchd lab profile over net_memif, latch-bench --mode "
                "lock (ACQUIRE then RELEASE of each grant)",
        "one_outstanding": figures(lat_o1),
        "saturation": figures(lat_sat),
        "outstanding_sat": lat_sat["config"]["outstanding"],
        "status_sat": lat_sat["status"],
        "sweep": sweep},
    "reference_1q": {
        "what": "the reference over one queue, %d requests in flight"
                % ref1_sat["config"]["outstanding"],
        "saturation": figures(ref1_sat)},
    "latch_1worker": {
        "what": "latchd lab profile with workers.count=1, eal.lcores=%s, "
                "workers.idle=%s (its one worker alone on CPU 1, as "
                "testpmd's forwarding lcore), latch-bench --mode lock "
                "--queues 1" % (lab1_lcores, lab1_idle),
        "one_outstanding": figures(l1_o1),
        "saturation": figures(l1_sat),
        "outstanding_sat": l1_sat["config"]["outstanding"],
        "status_sat": l1_sat["status"],
        # Every alternating reference/latchd pair; the figures above are
        # the pair with the median rate_ratio.
        "pairs": pairs_1worker},
    "route": {
        "what": "latchd lab profile routing UDP port %d (key: latch) to "
                "one backend, latch-bench itself, over net_memif; "
                "latch-bench --mode route" % rt_o1["config"]["route_port"],
        "one_outstanding": figures(rt_o1),
        "saturation": figures(rt_sat),
        "outstanding_sat": rt_sat["config"]["outstanding"],
        "saturation_1worker": figures(rt1_sat),
        "latchd_routes": route_list.get("routes", [])},
    "replicated": {
        "what": "3-node lab cluster (tools/lab up --nodes 3 --links %s, "
                "every node eal.lcores=%s, workers.idle_sleep_polls=%s, "
                "idle_pause_polls=%s, idle_yield_polls=%s), latch-bench "
                "--mode lock over the leader's net_memif; a request is "
                "answered once committed"
                % (os.environ.get("REPL_LINKS", "?"), lab_lcores,
                   os.environ.get("REPL_SLEEP_POLLS", "?"),
                   os.environ.get("REPL_PAUSE_POLLS", "?"),
                   os.environ.get("REPL_YIELD_POLLS", "?")),
        "links": os.environ.get("REPL_LINKS", ""),
        "idle_sleep_polls": int(os.environ.get("REPL_SLEEP_POLLS", "0")),
        "idle_pause_polls": int(os.environ.get("REPL_PAUSE_POLLS", "0")),
        "idle_yield_polls": int(os.environ.get("REPL_YIELD_POLLS", "0")),
        "leader": repl_leader,
        "one_outstanding": figures(rp_o1),
        "saturation": figures(rp_sat),
        "outstanding_sat": rp_sat["config"]["outstanding"],
        "status_o1": rp_o1["status"],
        "status_sat": rp_sat["status"],
        "nodes": repl_nodes},
    "ratios": {
        "rate_ratio": ratio(lat_sat["throughput"]["answers_per_s"],
                            ref_sat["throughput"]["answers_per_s"]),
        "p50_ratio": ratio(lat_o1["latency"]["p50"],
                           ref_o1["latency"]["p50"]),
        "p99_ratio": ratio(lat_o1["latency"]["p99"],
                           ref_o1["latency"]["p99"]),
        # One latchd worker against the one-queue reference, the same
        # requests in flight (section latch_1worker).
        "rate_ratio_1worker": ratio(
            l1_sat["throughput"]["answers_per_s"],
            ref1_sat["throughput"]["answers_per_s"]),
        "p50_ratio_1worker": ratio(l1_o1["latency"]["p50"],
                                   ref_o1["latency"]["p50"]),
        "route_rate_ratio": ratio(rt_sat["throughput"]["answers_per_s"],
                                  ref_sat["throughput"]["answers_per_s"]),
        # Within its pair, the median pair (section latch_1worker).
        "route_rate_ratio_1worker": round(route_mid, 4),
        "route_p50_ratio": ratio(rt_o1["latency"]["p50"],
                                 ref_o1["latency"]["p50"]),
        # Against the single-node lock runs of the same run (issue 6:
        # goals p50 ratio <= 3, rate ratio >= 0.5).
        "replicated_p50_ratio": ratio(rp_o1["latency"]["p50"],
                                      lat_o1["latency"]["p50"]),
        "replicated_p99_ratio": ratio(rp_o1["latency"]["p99"],
                                      lat_o1["latency"]["p99"]),
        "replicated_rate_ratio": ratio(
            rp_sat["throughput"]["answers_per_s"],
            lat_sat["throughput"]["answers_per_s"]),
        # Issue 4: goodput at the sweep's highest offered load (2x) over
        # the best goodput of the sweep (goal >= 0.9, BUSY not collapse).
        "overload_goodput_ratio": ratio(
            sweep[-1]["goodput_per_s"],
            max(s["goodput_per_s"] for s in sweep)) if sweep else None},
    "runs": {"ref_o1": ref_o1, "ref_sat": ref_sat,
             "latch_o1": lat_o1, "latch_sat": lat_sat,
             "ref1_sat": ref1_sat, "latch1_o1": l1_o1,
             "latch1_sat": l1_sat,
             "route_o1": rt_o1, "route_sat": rt_sat,
             "route1_sat": rt1_sat,
             "repl_o1": rp_o1, "repl_sat": rp_sat},
}
with open(os.path.join(out, "latest.json"), "w") as f:
    json.dump(res, f, indent=1)
    f.write("\n")


def cdf(d, path):
    h = d["latency"]
    n, seen = h["count"] or 1, 0
    with open(path, "w") as f:
        for low, high, c in h["buckets"]:
            seen += c
            f.write("%g %g\n" % ((low + high) / 2000.0, seen / n))


cdf(ref_o1, os.path.join(work, "cdf_ref.dat"))
cdf(lat_o1, os.path.join(work, "cdf_latch.dat"))
with open(os.path.join(work, "sweep.dat"), "w") as f:
    for s in sweep:
        f.write("%g %g %g\n" % (s["offered_per_s"], s["goodput_per_s"],
                                s["p99_ns"] / 1000.0))

r = res["ratios"]
print("bench: reference: %.3f Mpps at saturation; 1 outstanding: "
      "p50 %.2f us, p99 %.2f us" % (
          ref_sat["throughput"]["answers_per_s"] / 1e6,
          ref_o1["latency"]["p50"] / 1e3, ref_o1["latency"]["p99"] / 1e3))
print("bench: latch:     %.3f Mreq/s at saturation; 1 outstanding: "
      "p50 %.2f us, p99 %.2f us" % (
          lat_sat["throughput"]["answers_per_s"] / 1e6,
          lat_o1["latency"]["p50"] / 1e3, lat_o1["latency"]["p99"] / 1e3))
print("bench: route:     %.3f Mpps routed at saturation; 1 outstanding: "
      "p50 %.2f us, p99 %.2f us" % (
          rt_sat["throughput"]["answers_per_s"] / 1e6,
          rt_o1["latency"]["p50"] / 1e3, rt_o1["latency"]["p99"] / 1e3))
print("bench: rate_ratio %s  p50_ratio %s  p99_ratio %s  "
      "overload_goodput_ratio %s" % (
          r["rate_ratio"], r["p50_ratio"], r["p99_ratio"],
          r["overload_goodput_ratio"]))
print("bench: one worker: %.3f Mreq/s against %.3f Mpps (one queue); "
      "rate_ratio_1worker %s  p50_ratio_1worker %s" % (
          l1_sat["throughput"]["answers_per_s"] / 1e6,
          ref1_sat["throughput"]["answers_per_s"] / 1e6,
          r["rate_ratio_1worker"], r["p50_ratio_1worker"]))
print("bench: route_rate_ratio %s  route_p50_ratio %s  "
      "route_rate_ratio_1worker %s" % (
          r["route_rate_ratio"], r["route_p50_ratio"],
          r["route_rate_ratio_1worker"]))
print("bench: replicated (leader %s): %.3f Mreq/s at saturation; "
      "1 outstanding: p50 %.2f us, p99 %.2f us" % (
          repl_leader, rp_sat["throughput"]["answers_per_s"] / 1e6,
          rp_o1["latency"]["p50"] / 1e3, rp_o1["latency"]["p99"] / 1e3))
print("bench: replicated_p50_ratio %s  replicated_rate_ratio %s" % (
    r["replicated_p50_ratio"], r["replicated_rate_ratio"]))
PY

# ---- 6. failover: kill -9 of the leader to the first new grant ----------
# After latest.json so that a failover problem costs no other figure. The
# lab lock is this script's (inherited descriptor): FAILOVER_LOCKED=1.
if [ "$FAILOVER" -eq 1 ]; then
	FAILOVER_LOCKED=1 BUILD=$BUILD "$ROOT/perf/failover-time.sh" \
		--trials "$FAILOVER_TRIALS" --out "$OUT" ||
		echo "bench: failover measurement failed (see above)" >&2
fi

if command -v gnuplot >/dev/null; then
	gnuplot -e "work='$WORK'; out='$OUT'" "$ROOT/perf/plot.gp" &&
		echo "bench: plots: $OUT/latency-cdf.png $OUT/throughput.png"
else
	echo "bench: gnuplot missing (apt-get install gnuplot-nox): no plots" >&2
fi
echo "bench: results: $OUT/latest.json"
