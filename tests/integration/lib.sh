# SPDX-License-Identifier: BSD-3-Clause
# Shared by the integration tests (sourced, not run).
#
# Every test: lab_start (tears down a leftover lab, installs the cleanup
# trap, starts the lab), then assertions on behaviour. Waits are bounded
# polls, never sleeps that assume a speed: a test checks what happened,
# not how fast. The trap kills the test's background processes, prints the
# lab log on failure and always runs tools/lab down.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB=$ROOT/tools/lab
export LATCH_BUILD=${LATCH_BUILD:-$ROOT/build}
# shellcheck disable=SC2034 # used by the tests that source this
PROBE=${LATCH_PROBE:-$LATCH_BUILD/tests/integration/latch-probe}
TEST_NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "/tmp/latch-it-$TEST_NAME.XXXXXX")
BG_PIDS=()

say() {
	echo "[$TEST_NAME] $*"
}

fail() {
	echo "[$TEST_NAME] FAIL: $*" >&2
	exit 1
}

lab_cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in ${BG_PIDS[@]+"${BG_PIDS[@]}"}; do
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	# 77 is meson's "skipped": the test said why; no log needed.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		echo "[$TEST_NAME] --- lab log on failure ---" >&2
		"$LAB" logs 60 >&2 2>/dev/null || true
	fi
	"$LAB" down >/dev/null 2>&1 || true
	rm -rf "$TMP"
	if [ "$rc" -eq 0 ]; then
		echo "[$TEST_NAME] PASS"
	fi
	exit "$rc"
}

# lab_start [UP_ARGS...]: as described above; UP_ARGS go to `tools/lab up`
# (e.g. --nodes 3); none starts the one-node lab. LATCH_LAB_SET, split on
# spaces, goes before them: meson runs some tests again in another layout
# that way (tests/integration/meson.build).
lab_start() {
	[ "$(id -u)" -eq 0 ] || { echo "[$TEST_NAME] SKIP: needs root"; exit 77; }
	# One lab per machine: a test run from another build dir (or by
	# another user of the machine) would tear this one's lab down. Hold
	# a lock for the whole test; the kernel drops it when we exit.
	exec {LAB_LOCK_FD}>/run/lock/latch-lab.lock
	if ! flock -w 900 "$LAB_LOCK_FD"; then
		fail "another lab test held /run/lock/latch-lab.lock for 900 s"
	fi
	"$LAB" down >/dev/null 2>&1 || true
	trap lab_cleanup EXIT
	trap 'exit 130' INT TERM
	# shellcheck disable=SC2086 # split on purpose
	"$LAB" up ${LATCH_LAB_SET:-} "$@"
}

# bg OUT CMD...: run CMD in the background, stdout to OUT; sets BG_PID.
bg() {
	local out=$1
	shift
	"$@" >"$out" 2>"$out.err" &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}

# bg_wait PID TIMEOUT_S: wait for PID to exit within TIMEOUT_S; its status.
bg_wait() {
	local pid=$1 limit=$(($2 * 10)) i rc=0
	for ((i = 0; i < limit; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && fail "pid $pid still running after $2 s"
	wait "$pid" || rc=$?
	return "$rc"
}

# wait_until TIMEOUT_S CMD...: poll CMD every 0.1 s until it succeeds,
# for at most TIMEOUT_S seconds of wall time (however slow CMD is on a
# loaded machine), then once more.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while ((SECONDS < end)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# ctl ARGS...: latchctl --json inside the lab; stdout is its JSON; the exit
# status is latchctl's (0 granted/released/..., 1 other status, 3 error).
ctl() {
	"$LAB" exec latchctl --json "$@"
}

# ctl_rc VAR ARGS...: run ctl, put its JSON in VAR and return 0 always;
# the exit status goes to CTL_RC.
# shellcheck disable=SC2034 # CTL_RC is read by the caller
ctl_rc() {
	local __var=$1 __out
	shift
	CTL_RC=0
	__out=$(ctl "$@") || CTL_RC=$?
	printf -v "$__var" '%s' "$__out"
}

# jget JSON FIELD: a top-level field of a JSON object ("" if absent).
jget() {
	python3 -c '
import json, sys
try:
    v = json.loads(sys.argv[1]).get(sys.argv[2], "")
except (ValueError, AttributeError):
    v = ""
if isinstance(v, bool):
    v = "true" if v else "false"
print("" if v is None else v)' "$1" "$2"
}

# jline FILE EVENT: the first line of FILE whose "event" is EVENT.
jline() {
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if isinstance(o, dict) and o.get("event") == sys.argv[2]:
        print(line.strip())
        sys.exit(0)
sys.exit(1)' "$1" "$2"
}

# counter PATH [STATS_JSON]: a counter of latchd's totals, e.g.
# "drops.bad_magic" or "lock.lease_expired", read through `latchctl stats
# --json` (or from STATS_JSON, to read several counters of one snapshot).
counter() {
	local js=${2:-}
	[ -n "$js" ] || js=$(ctl stats) || fail "latchctl stats failed"
	python3 -c '
import json, sys
o = json.loads(sys.argv[1])
def find_total(x):
    if isinstance(x, dict):
        if isinstance(x.get("total"), dict):
            return x["total"]
        for v in x.values():
            t = find_total(v)
            if t is not None:
                return t
    return None
t = find_total(o)
if t is None:
    t = o
for k in sys.argv[2].split("."):
    t = t[k]
print(int(t))' "$js" "$1" || fail "no counter $1 in: $js"
}

# waiters KEY: how many requests are queued on KEY (latchctl lock query).
waiters() {
	ctl lock query "$1" | python3 -c \
		'import json,sys; print(json.load(sys.stdin).get("waiters", 0))'
}

# waiters_at_least KEY N: for wait_until (re-evaluated at every poll).
waiters_at_least() {
	[ "$(waiters "$1")" -ge "$2" ]
}

assert_eq() {
	[ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"
}

assert_gt() {
	[ "$1" -gt "$2" ] || fail "$3: expected $1 > $2"
}

# ctl_node NODE ARGS...: like ctl, against node NODE of a several-node lab
# (tools/lab exec --node).
ctl_node() {
	local node=$1
	shift
	"$LAB" exec --node "$node" latchctl --json "$@"
}

# ctl_node_rc VAR NODE ARGS...: ctl_rc for node NODE.
# shellcheck disable=SC2034 # CTL_RC is read by the caller
ctl_node_rc() {
	local __var=$1 __out
	shift
	CTL_RC=0
	__out=$(ctl_node "$@") || CTL_RC=$?
	printf -v "$__var" '%s' "$__out"
}

# node_field NODE FIELD: FIELD of NODE in `tools/lab status --json`.
node_field() {
	"$LAB" status --json | python3 -c '
import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] == sys.argv[1]:
        v = n.get(sys.argv[2])
        print("" if v is None else v)
        sys.exit(0)
sys.exit(1)' "$1" "$2"
}

# node_state_is NODE STATE: for wait_until.
node_state_is() {
	[ "$(node_field "$1" state)" = "$2" ]
}

# raft_agreed: exactly one node of the lab says it leads, and every node
# whose latch-control answers names it as leader in the same term. Prints
# "LEADER TERM"; 1 if not (yet) so.
raft_agreed() {
	"$LAB" status --json | python3 -c '
import json, sys
nodes = [n for n in json.load(sys.stdin)["nodes"] if n.get("raft")]
leaders = [n for n in nodes if n["raft"]["role"] == "leader"]
if len(nodes) == 0 or len(leaders) != 1:
    sys.exit(1)
name, term = leaders[0]["name"], leaders[0]["raft"]["term"]
for n in nodes:
    if n["raft"]["term"] != term or n["raft"]["leader"] != name:
        sys.exit(1)
print(name, term)'
}

# raft_agreed_by N: raft_agreed, with N nodes answering.
raft_agreed_by() {
	local want=$1
	[ "$("$LAB" status --json | python3 -c '
import json, sys
print(sum(1 for n in json.load(sys.stdin)["nodes"] if n.get("raft")))')" \
		-eq "$want" ] && raft_agreed >/dev/null
}

