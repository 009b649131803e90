#!/usr/bin/env bash
# The test command (README, "Testing"): install what is missing, build, run
# every meson suite, and end with one line "N passed, N failed[, N skipped]"
# taken from meson's own summary.
#
#   tools/run-tests.sh [--suite NAME]... [meson test arguments]
#
# Environment: BUILD (build directory, default ./build).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}

tools/install-deps.sh || exit 1
tools/hugepages.sh
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" >/dev/null || { echo "meson setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C "$build"; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

log=$(mktemp)
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

# meson's summary block: "Ok: N", "Fail: N", "Skipped: N", "Timeout: N", ...
count() { awk -v k="$1:" 'index($0, k) == 1 { n = $NF } END { print n + 0 }' "$log"; }
ok=$(count Ok)
expfail=$(count "Expected Fail")
fail=$(( $(count Fail) + $(count Timeout) + $(count "Unexpected Pass") ))
skip=$(count Skipped)
rm -f "$log"
if [ "$ok" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$rc" -ne 0 ]; then
	fail=1 # meson itself failed before running anything
fi
line="$((ok + expfail)) passed, $fail failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
exit "$rc"
