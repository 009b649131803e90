#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Fewer worker lcores than partitions (docs/design.md, "partitions and
# lcores"): latchd takes 1 to workers.count worker lcores and refuses
# more or none; with two partitions on one lcore, that lcore serves both,
# kernel clients' requests reach both (handed over between the two on the
# same lcore) and a queued waiter is granted. (The lab profile has this
# layout; test_bench.sh runs again with an lcore per partition, meson's
# bench-two-lcores.)
source "$(dirname "$0")/lib.sh"

LATCHD=$LATCH_BUILD/dataplane/latchd
PROFILE=$ROOT/firmware-cfg/lab.conf

# check LCORES: latchd --check-config of the lab profile, two partitions.
check() {
	"$LATCHD" --check-config "$PROFILE" --set workers.count=2 \
		--set "eal.lcores=$1" >"$TMP/check.out" 2>&1
}
check 0@0,1@1 || fail "one worker lcore for two partitions refused: $(cat "$TMP/check.out")"
grep -q "2 workers sharing 1 worker lcore" "$TMP/check.out" ||
	fail "the summary does not say the lcore is shared: $(cat "$TMP/check.out")"
check 0@0,1@1,2@1 || fail "one lcore per partition refused: $(cat "$TMP/check.out")"
! check 0@0,1@1,2@1,3@0 || fail "three worker lcores for two partitions accepted"
grep -q "1 to 2 worker lcores" "$TMP/check.out" ||
	fail "too many lcores: unclear error: $(cat "$TMP/check.out")"
! check 0 || fail "no worker lcore accepted"
say "check-config: 1 or 2 worker lcores for 2 partitions, not 0 or 3"

lab_start --set workers.count=2 --set eal.lcores=0@0,1@1

# Both partitions launched on lcore 1, the only worker lcore.
"$LAB" logs 200 >"$TMP/lab.log" 2>&1 || true
for w in 0 1; do
	grep -q "worker $w: partition $w, lcore 1," "$TMP/lab.log" ||
		fail "partition $w not on lcore 1: $(grep worker "$TMP/lab.log")"
done

# Kernel clients: sixteen keys over both partitions, each granted.
for i in $(seq 16); do
	ctl_rc out --client-id 301 lock acquire "it-lcores-$i" --lease 60000
	assert_eq "$(jget "$out" status)" granted "acquire of it-lcores-$i"
done
stats=$(ctl stats)
python3 - "$stats" <<'PY' || fail "a partition served no acquire: $stats"
import json, sys
w = json.loads(sys.argv[1])["workers"]
assert len(w) == 2, w
assert all(x["lcore"] == 1 for x in w), w
assert all(x["req_acquire"] > 0 for x in w), w
PY
say "both partitions on lcore 1 granted"

# A waiter on a key of each partition (latch_key_partition() puts
# it-lcores-1 in partition 1 and it-lcores-2 in 0): queued, then granted
# on release.
for i in 1 2; do
	key=it-lcores-$i
	tok=$(jget "$(ctl lock query "$key")" token)
	bg "$TMP/w$i.json" "$LAB" exec latchctl --json --client-id 302 \
		lock acquire "$key" --wait 30000 --lease 60000
	pid=$BG_PID
	wait_until 20 waiters_at_least "$key" 1 || fail "waiter on $key never queued"
	ctl_rc out --client-id 301 lock release "$key" --token "$tok"
	assert_eq "$(jget "$out" status)" released "release of $key"
	rc=0
	bg_wait "$pid" 40 || rc=$?
	out=$(tail -n 1 "$TMP/w$i.json")
	assert_eq "$rc" 0 "waiter on $key ($out)"
	assert_eq "$(jget "$out" status)" granted "waiter on $key"
done
say "queued waiters granted"
