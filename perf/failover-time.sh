#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# perf/failover-time.sh: failover time of the 3-node lab cluster, from
# SIGKILL of the leader to the first grant served by the new leader
# (docs/benchmarks.md, "Replicated cluster").
#
# Starts `tools/lab up --nodes 3` (--links: over the bridge, or memif peer
# links; under the lab lock), then TRIALS times:
# waits until no node is amnesic (the previous trial's restarted node is
# caught up), finds the leader, runs perf/failover-time.py inside the lab namespace
# (an ACQUIRE try for a fresh key every 1 ms to every node; it kills the
# leader itself and times the first OK from another node), restarts the
# killed node and waits until a leader is known again. Writes
# OUT/failover.json with each trial and min/median/max, and stops the lab.
#
# The lab's Raft timeouts come from LATCH_LAB_ELECTION_MS,
# LATCH_LAB_HEARTBEAT_MS and LATCH_LAB_BEACON_MS (tools/lab; defaults 200,
# 30 and 2); they are recorded in the JSON. Never fails on a timing.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
OUT=${BENCH_OUT:-$ROOT/perf/results}
TRIALS=5
NAME=failover
SIGNAL=KILL
LINKS=tap
LOCKED=${FAILOVER_LOCKED:-0}

usage() {
	cat <<USAGE
usage: perf/failover-time.sh [--trials N] [--out DIR] [--name NAME] [--stop]
                             [--links tap|memif]

--stop: SIGSTOP the leader instead of SIGKILL: a silent node that no
kernel reports, found only by the election timeout (a dead host or a cut
link behave so). --links memif: the nodes replicate over memif peer links
(tools/lab up --links memif) instead of the bridge.

Environment: BUILD (default build), LATCH_LAB_ELECTION_MS,
LATCH_LAB_HEARTBEAT_MS, LATCH_LAB_BEACON_MS (the lab's Raft timeouts;
defaults 200, 30, 2), FAILOVER_LOCKED=1 if
the caller already holds /run/lock/latch-lab.lock (perf/bench.sh).
Writes DIR/NAME.json (default perf/results/failover.json). Run as root.
USAGE
}

while [ $# -gt 0 ]; do
	case $1 in
	--trials) TRIALS=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--name) NAME=${2:?}; shift 2 ;;
	--stop) SIGNAL=STOP; shift ;;
	--links) LINKS=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "failover: unknown argument '$1'" >&2; exit 2 ;;
	esac
done

[ "$(id -u)" -eq 0 ] || { echo "failover: run as root" >&2; exit 1; }
if [ "$LOCKED" != 1 ]; then
	mkdir -p /run/lock
	exec {LAB_LOCK_FD}>/run/lock/latch-lab.lock
	flock -w 900 "$LAB_LOCK_FD" ||
		{ echo "failover: the lab is busy" >&2; exit 1; }
fi

export LATCH_BUILD=$BUILD
LAB=$ROOT/tools/lab
WORK=$(mktemp -d /tmp/latch-failover.XXXXXX)
cleanup() {
	"$LAB" down >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_leader [NOT]: print the leader's name once one (other than NOT)
# claims it; up to 20 s.
wait_leader() {
	local i l
	for ((i = 0; i < 200; i++)); do
		l=$("$LAB" leader 2>/dev/null || true)
		if [ -n "$l" ] && [ "$l" != "${1:-}" ]; then
			echo "$l"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# wait_whole: until every node follows one leader and none is amnesic,
# i.e. the node restarted by the previous trial has been caught up (a
# restarted latchd's logs are gone; until a leader catches it up its
# acks do not count). Without this a trial would kill the leader of a
# cluster with one healthy follower and one still catching up: a double
# failure, not the failover measured here. Up to 30 s.
wait_whole() {
	local i
	for ((i = 0; i < 300; i++)); do
		if "$LAB" status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
r = [n.get("raft") or {} for n in d["nodes"]]
ok = (len(r) > 0 and all(x.get("amnesic") is False for x in r) and
      len({x.get("leader") for x in r}) == 1 and
      sum(x.get("role") == "leader" for x in r) == 1)
sys.exit(0 if ok else 1)'; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

mkdir -p "$OUT"
"$LAB" down >/dev/null 2>&1 || true
"$LAB" up --nodes 3 --links "$LINKS" >&2
for ((t = 1; t <= TRIALS; t++)); do
	leader=$(wait_leader) || { echo "failover: no leader" >&2; exit 1; }
	wait_whole || echo "failover: trial $t: a node is still amnesic" >&2
	leader=$(wait_leader) || { echo "failover: no leader" >&2; exit 1; }
	# Let the followers' dataplanes learn the leader before the warm-up.
	sleep 1
	echo "failover: trial $t: killing $leader" >&2
	if ! "$LAB" exec python3 "$ROOT/perf/failover-time.py" \
		--leader "$leader" --tag "$$-$t" --signal "$SIGNAL" \
		>"$WORK/trial$t.json"; then
		echo "failover: trial $t: no grant (see $WORK)" >&2
	fi
	cat "$WORK/trial$t.json" >&2
	"$LAB" kill "$leader" >/dev/null 2>&1 || true
	wait_leader "$leader" >/dev/null || true
	"$LAB" restart "$leader" >&2
done
# Stability: term of each node before and after a quiet period, with the
# timeouts of this run (a term that moves with nobody killed is a spurious
# election: the timeouts are too short for this machine).
terms() {
	"$LAB" status --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(max((n.get("raft") or {}).get("term") or 0 for n in d["nodes"]))'
}
sleep 2
term0=$(terms)
sleep "${FAILOVER_QUIET_S:-10}"
term1=$(terms)
"$LAB" down >&2

python3 - "$OUT/$NAME.json" "$WORK" "$TRIALS" "$term0" "$term1" \
	"${LATCH_LAB_ELECTION_MS:-200}" "${LATCH_LAB_HEARTBEAT_MS:-30}" \
	"${FAILOVER_QUIET_S:-10}" "${LATCH_LAB_BEACON_MS:-2}" "$SIGNAL" \
	"$LINKS" <<'PY'
import json, os, statistics, sys, time
out, work, trials, t0, t1, el, hb, quiet, bc, sig, links = sys.argv[1:12]
runs = []
for i in range(1, int(trials) + 1):
    try:
        with open(os.path.join(work, "trial%d.json" % i)) as f:
            runs.append(json.loads(f.read().strip().splitlines()[-1]))
    except (OSError, ValueError, IndexError):
        runs.append({"grant_ms": None, "error": "no output"})
g = [r["grant_ms"] for r in runs if r.get("grant_ms") is not None]
h = [r["hint_ms"] for r in runs if r.get("hint_ms") is not None]
def summ(v):
    if not v:
        return None
    return {"min": min(v), "median": statistics.median(v), "max": max(v),
            "n": len(v)}
res = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
       "what": "%s of the leader (latch-control and latchd) to the "
               "first OK to an ACQUIRE try sent every 1 ms to every node"
               % ("kill -9" if sig == "KILL" else "SIGSTOP"),
       "signal": sig, "links": links,
       "election_ms": int(el), "heartbeat_ms": int(hb),
       "beacon_ms": int(bc),
       "grant_ms": summ(g), "hint_ms": summ(h),
       "failed_trials": len(runs) - len(g),
       "stability": {"quiet_s": int(quiet), "term_before": int(t0),
                     "term_after": int(t1),
                     "spurious_elections": int(t1) - int(t0)},
       "trials": runs}
with open(out, "w") as f:
    json.dump(res, f, indent=1)
    f.write("\n")
print("failover: grant_ms %s (election %s ms, heartbeat %s ms, beacon %s "
      "ms); term moved %d in %s s quiet" % (res["grant_ms"], el, hb, bc,
                                            int(t1) - int(t0), quiet))
PY
echo "failover: results: $OUT/$NAME.json" >&2
