#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# latch-control against a real latchd (docs/operations.md, "latch-control"):
# GET /status and /metrics, the API socket's cluster_status with latchd up,
# a follower's refusal of a leader transfer, a second latch-control as peer n2 seen up
# through the liveness beacon and down once it stops, and latchd seen down
# once it is killed. Everything runs on loopback; latchd uses a net_null
# port (tests/integration/control.conf), so no namespace is needed.
# Every process is ours and is stopped by PID.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${LATCH_BUILD:-$ROOT/build}
LATCHD=$BUILD/dataplane/latchd
CONTROL=$BUILD/control/latch-control
LATCHCTL=$BUILD/client/latchctl
PROFILE=$ROOT/tests/integration/control.conf
NODE=ctl-it # node.name in control.conf: the EAL file prefix latch-ctl-it
TMP=$(mktemp -d /tmp/latch-it-control.XXXXXX)
RUN=$TMP/run
PIDS=()
LATCHD_PID=

say() { echo "[control] $*"; }
fail() {
	echo "[control] FAIL: $*" >&2
	exit 1
}

stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? p f
	trap - EXIT INT TERM
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		stop_pid "$p"
	done
	rm -f /dev/hugepages/latch-"$NODE"map_* 2>/dev/null || true
	if [ "$rc" -ne 0 ]; then
		for f in "$TMP"/*.log; do
			[ -f "$f" ] || continue
			echo "[control] --- $f ---" >&2
			tail -n 30 "$f" >&2 || true
		done
	fi
	rm -rf "$TMP"
	[ "$rc" -eq 0 ] && echo "[control] PASS"
	exit "$rc"
}

[ "$(id -u)" -eq 0 ] || { echo "[control] SKIP: needs root"; exit 77; }
for b in "$LATCHD" "$CONTROL" "$LATCHCTL"; do
	[ -x "$b" ] || { echo "[control] SKIP: $b not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "[control] SKIP: no python3"; exit 77; }
command -v curl >/dev/null || { echo "[control] SKIP: no curl"; exit 77; }
# One run at a time: the node name (EAL prefix) and ports are fixed.
exec {LOCK_FD}>/run/lock/latch-control-it.lock
flock -w 600 "$LOCK_FD" || fail "another test_control.sh held its lock 600 s"
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until TIMEOUT_S CMD...: poll CMD every 0.1 s until it succeeds.
wait_until() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# jpath JSON PATH: a field by dotted path (numbers index arrays).
jpath() {
	python3 -c '
import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print("null" if v is None else v)' "$1" "$2"
}

api() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
print(buf.decode().strip())' "$RUN/control.sock" "$1"
}

status_field() {
	local js
	js=$(curl -sf "http://127.0.0.1:7581/status") || return 1
	jpath "$js" "$1"
}

latchd_is() { [ "$(status_field latchd.state)" = "$1" ]; }
n2_is() { [ "$(status_field members.1.state)" = "$1" ]; }

# --- latchd ------------------------------------------------------------------
"$LATCHD" --profile "$PROFILE" --foreground \
	--set "node.run_dir=$RUN" --set "node.state_dir=$TMP/state" \
	</dev/null >"$TMP/latchd.log" 2>&1 &
LATCHD_PID=$!
PIDS+=("$LATCHD_PID")
wait_until 60 grep -q "latchd ready" "$TMP/latchd.log" ||
	fail "latchd not ready after 60 s"
say "latchd up (pid $LATCHD_PID)"

# --- latch-control n1 (and its configuration check) -----------------------
"$CONTROL" --check-config "$PROFILE" --set "node.run_dir=$RUN" \
	>"$TMP/check.out" || fail "--check-config refused $PROFILE"
grep -q "control.latchd_socket  $RUN/latchd.sock" "$TMP/check.out" ||
	fail "latchd socket not derived from run_dir: $(cat "$TMP/check.out")"
if "$CONTROL" --check-config "$PROFILE" --set control.heartbeat_ms=300 \
	>/dev/null 2>"$TMP/bad.err"; then
	fail "--check-config accepted heartbeat_ms above election_ms / 2"
fi
grep -q "heartbeat_ms 300 must be at most half" "$TMP/bad.err" ||
	fail "no explanation: $(cat "$TMP/bad.err")"

"$CONTROL" --config "$PROFILE" --set "node.run_dir=$RUN" \
	--set "node.state_dir=$TMP/state" </dev/null >"$TMP/n1.log" 2>&1 &
N1_PID=$!
PIDS+=("$N1_PID")
wait_until 20 test -S "$RUN/control.sock" || fail "no API socket"
wait_until 20 latchd_is up || fail "latch-control never saw latchd up"
say "latch-control n1 up (pid $N1_PID), latchd seen up"

js=$(curl -sf http://127.0.0.1:7581/status) || fail "GET /status failed"
[ "$(jpath "$js" node)" = "$NODE" ] || fail "/status node: $js"
[ "$(jpath "$js" role)" = follower ] || fail "/status role: $js"
[ "$(jpath "$js" term)" = 0 ] || fail "/status term: $js"
[ "$(jpath "$js" leader)" = null ] || fail "/status leader: $js"
[ "$(jpath "$js" members.1.name)" = n2 ] || fail "/status members: $js"
[ "$(jpath "$js" members.1.mgmt)" = 127.0.0.1:7592 ] || fail "mgmt: $js"
epoch=$(jpath "$js" latchd.epoch)
[ "$epoch" != null ] && [ "$epoch" -ge 1 ] || fail "latchd epoch: $js"

metrics=$(curl -sf http://127.0.0.1:7581/metrics) || fail "GET /metrics"
for m in latch_control_term latch_control_role latch_control_latchd_up \
	latch_control_uptime_seconds latch_control_peer_sent_total; do
	grep -q "^# TYPE $m " <<<"$metrics" || fail "/metrics lacks TYPE $m"
	grep -q "^# HELP $m " <<<"$metrics" || fail "/metrics lacks HELP $m"
done
grep -q '^latch_control_latchd_up 1$' <<<"$metrics" ||
	fail "latchd_up is not 1: $metrics"
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:7581/nope)
[ "$code" = 404 ] || fail "GET /nope answered $code, not 404"

js=$(api '{"cmd":"cluster_status"}') || fail "API cluster_status failed"
[ "$(jpath "$js" latchd.state)" = up ] || fail "API latchd state: $js"
[ "$(jpath "$js" id)" = 1 ] || fail "API id: $js"
# Not a bootstrap member and alone: a follower at term 0 that knows no
# leader refuses a transfer, saying so.
js=$(api '{"cmd":"transfer_leader","name":"n2"}')
grep -q "not the leader" <<<"$(jpath "$js" error)" ||
	fail "transfer_leader at a follower: $js"
js=$(api '{"cmd":"remove_member","name":"n2"}')
grep -q "not the leader" <<<"$(jpath "$js" error)" ||
	fail "remove_member at a follower: $js"

# latchctl against the API socket.
js=$("$LATCHCTL" --json --api "$RUN/control.sock" cluster status) ||
	fail "latchctl cluster status failed"
[ "$(jpath "$js" latchd.state)" = up ] || fail "latchctl: $js"
LATCH_API=$RUN/control.sock "$LATCHCTL" cluster members >"$TMP/members.out" ||
	fail "latchctl cluster members failed"
grep -q n2 "$TMP/members.out" || fail "members: $(cat "$TMP/members.out")"
rc=0
"$LATCHCTL" --api "$RUN/control.sock" cluster transfer n2 \
	>"$TMP/transfer.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "latchctl cluster transfer succeeded"
grep -q "not the leader" "$TMP/transfer.out" ||
	fail "latchctl transfer: $(cat "$TMP/transfer.out")"

# --- peer n2: a second latch-control, up then stopped ---------------------
cat >"$TMP/n2.conf" <<CONF
[node]
name = n2
id = 2
run_dir = $TMP/run2
state_dir = $TMP/state2
[eal]
lcores = 0
[port null0]
vdev = net_null1
addr = 198.18.9.2
[control]
http = 127.0.0.1:7582
mgmt_addr = 127.0.0.1:7592
election_ms = 400
heartbeat_ms = 50
latchd_poll_ms = 100
[peer ctl-it]
id = 1
mgmt = 127.0.0.1:7591
CONF
"$CONTROL" --config "$TMP/n2.conf" </dev/null >"$TMP/n2.log" 2>&1 &
N2_PID=$!
PIDS+=("$N2_PID")
wait_until 20 n2_is up || fail "n1 never saw peer n2 up"
recv=$(curl -sf http://127.0.0.1:7581/metrics |
	sed -n 's/^latch_control_peer_received_total{peer="n2"} //p')
[ "${recv:-0}" -gt 0 ] || fail "no datagram from n2 counted"
say "peer n2 seen up ($recv beacons)"
stop_pid "$N2_PID"
wait_until 20 n2_is down || fail "n1 never saw peer n2 down"
say "peer n2 seen down after it stopped"

# --- latchd killed: seen down ------------------------------------------------
kill -KILL "$LATCHD_PID"
wait "$LATCHD_PID" 2>/dev/null || true
wait_until 20 latchd_is down || fail "latch-control never saw latchd down"
js=$(api '{"cmd":"cluster_status"}')
[ "$(jpath "$js" latchd.state)" = down ] || fail "API after kill: $js"
grep -q '^latch_control_latchd_up 0$' <<<"$(curl -sf \
	http://127.0.0.1:7581/metrics)" || fail "latchd_up is not 0"
kill -0 "$N1_PID" 2>/dev/null || fail "latch-control died with latchd"
say "latchd killed: seen down, latch-control still serving"

# Clean stop on SIGTERM, API socket removed.
kill -TERM "$N1_PID"
wait "$N1_PID" || fail "latch-control exited $? on SIGTERM"
[ ! -e "$RUN/control.sock" ] || fail "API socket left behind"
