#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The demo, small: 3 processes x 100 increments under the lock must leave
# exactly 300 in the file, with no fencing violation.
source "$(dirname "$0")/lib.sh"
lab_start

"$LAB" exec latch-demo --clients 3 --iterations 100 | tee "$TMP/demo.out" ||
	fail "latch-demo failed"
grep -q "^final value 300 .*exactly right" "$TMP/demo.out" ||
	fail "no exactly-right line"
grep -q "^lock ops/s: " "$TMP/demo.out" || fail "no ops/s line"
grep -q "^acquire latency: p50 " "$TMP/demo.out" || fail "no latency line"
assert_gt "$(counter lock.grants)" 299 "grants counted by latchd"
