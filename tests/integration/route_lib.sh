# SPDX-License-Identifier: BSD-3-Clause
# Scaffolding of the routing tests (test_route*.sh). Each runs a latchd of
# its own in a network namespace of its own, not tools/lab, because it
# routes to backends that are sockets on the kernel side of latchd's TAP
# port. A test sets these, then sources this file:
#   RT_TEST  its name: message prefix and lock file
#   PROFILE  its latchd profile; NODE that profile's node.name (EAL file
#            prefix latch-NODE; fixed, so one run per machine at a time)
#   RT_IF    the TAP interface of PROFILE (the kernel side)
#   RT_NET   its /24 prefix, e.g. 198.18.7: latchd is .1, RT_IF .2
#   RT_HOP   RT_IF's MAC: the backends' next hop in PROFILE
# and gets ROOT, BUILD, LATCHD, LATCHCTL, NS, TMP, RUN, say, fail, ctl, a
# cleanup on exit (receivers, latchd, namespace, hugepage files, TMP; the
# latchd log on failure), rt_start_latchd and rt_start_receivers (the
# backends: route_recv.py).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${LATCH_BUILD:-$ROOT/build}
LATCHD=$BUILD/dataplane/latchd
LATCHCTL=$BUILD/client/latchctl
# Unique per run: the lab and other tests use their own namespaces.
NS=latch-$RT_TEST-$$
TMP=$(mktemp -d "/tmp/latch-it-$RT_TEST.XXXXXX")
RUN=$TMP/run
LATCHD_PID=
RECV_PID=

say() { echo "[$RT_TEST] $*"; }
fail() {
	echo "[$RT_TEST] FAIL: $*" >&2
	exit 1
}

rt_cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	if [ -n "$RECV_PID" ]; then
		kill "$RECV_PID" 2>/dev/null || true
		wait "$RECV_PID" 2>/dev/null || true
	fi
	if [ -n "$LATCHD_PID" ]; then
		kill -TERM "$LATCHD_PID" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$LATCHD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$LATCHD_PID" 2>/dev/null || true
		wait "$LATCHD_PID" 2>/dev/null || true
	fi
	ip netns del "$NS" 2>/dev/null || true
	rm -f /dev/hugepages/latch-"$NODE"map_* 2>/dev/null || true
	if [ "$rc" -ne 0 ] && [ -f "$TMP/latchd.log" ]; then
		echo "[$RT_TEST] --- latchd log ---" >&2
		tail -n 40 "$TMP/latchd.log" >&2 || true
	fi
	rm -rf "$TMP"
	[ "$rc" -eq 0 ] && echo "[$RT_TEST] PASS"
	exit "$rc"
}

skip() {
	echo "[$RT_TEST] SKIP: $*"
	rm -rf "$TMP"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root"
[ -x "$LATCHD" ] && [ -x "$LATCHCTL" ] ||
	skip "latchd or latchctl not built in $BUILD"
command -v python3 >/dev/null || skip "no python3"
exec {RT_LOCK_FD}>"/run/lock/latch-$RT_TEST.lock"
flock -w 600 "$RT_LOCK_FD" || fail "another run held its lock for 600 s"
trap rt_cleanup EXIT
trap 'exit 130' INT TERM

# ctl ARGS...: latchctl --json against our latchd (control socket, and its
# lock port for lock commands).
ctl() {
	ip netns exec "$NS" "$LATCHCTL" --json --control "$RUN/latchd.sock" \
		--server "$RT_NET.1:7400" "$@"
}

# rt_start_latchd SUFFIX...: latchd in our namespace, ready, and RT_IF set
# up with the extra /32 addresses RT_NET.SUFFIX (the backends', and group
# or sender addresses). Frames from latchd keep their source address,
# also RT_IF's: the kernel must accept local sources there. latchd's MAC
# comes from its status, so no datagram waits for ARP.
rt_start_latchd() {
	local i a mac

	ip netns add "$NS"
	ip -n "$NS" link set lo up
	ip netns exec "$NS" "$LATCHD" --profile "$PROFILE" --foreground \
		--set "node.run_dir=$RUN" --set "node.state_dir=$TMP/state" \
		</dev/null >"$TMP/latchd.log" 2>&1 &
	LATCHD_PID=$!
	for ((i = 0; ; i++)); do
		kill -0 "$LATCHD_PID" 2>/dev/null ||
			fail "latchd exited during start-up"
		if grep -q "latchd ready" "$TMP/latchd.log" &&
			[ -S "$RUN/latchd.sock" ] &&
			ip -n "$NS" link show "$RT_IF" >/dev/null 2>&1; then
			break
		fi
		[ "$i" -lt 600 ] || fail "latchd not ready after 60 s"
		sleep 0.1
	done
	say "latchd up (pid $LATCHD_PID, namespace $NS)"

	ip -n "$NS" link set "$RT_IF" down
	ip -n "$NS" link set "$RT_IF" address "$RT_HOP"
	ip -n "$NS" addr add "$RT_NET.2/24" dev "$RT_IF"
	for a in "$@"; do
		ip -n "$NS" addr add "$RT_NET.$a/32" dev "$RT_IF"
	done
	ip netns exec "$NS" sysctl -qw net.ipv4.conf.all.rp_filter=0 \
		"net.ipv4.conf.$RT_IF.rp_filter=0" \
		"net.ipv4.conf.$RT_IF.accept_local=1"
	ip -n "$NS" link set "$RT_IF" up
	mac=$(ip netns exec "$NS" python3 -c '
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"{\"cmd\":\"status\"}\n"); buf = b""
while not buf.endswith(b"\n"):
    buf += s.recv(65536)
print(json.loads(buf)["ports"][0]["mac"])' "$RUN/latchd.sock")
	ip -n "$NS" neigh replace "$RT_NET.1" lladdr "$mac" dev "$RT_IF" \
		nud permanent
}

# rt_start_receivers FORMAT NAME=ADDR:PORT...: the backends, sockets of
# route_recv.py in our namespace writing "NAME DATA" lines (DATA in hex or
# text, FORMAT) to $TMP/recv.log; returns once they are bound.
rt_start_receivers() {
	local i

	ip netns exec "$NS" python3 "$ROOT/tests/integration/route_recv.py" \
		"$TMP/recv.log" "$TMP/recv.ready" "$@" &
	RECV_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -f "$TMP/recv.ready" ] && break
		sleep 0.1
	done
	[ -f "$TMP/recv.ready" ] || fail "receivers did not start"
}
