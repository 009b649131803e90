#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# `make demo`: install what is missing, build, start the lab, run
# latch-demo (4 processes x 500 increments of a file under one lock) and
# stop the lab again, whatever happened. Exits with the demo's status.
#
#   tools/demo.sh [latch-demo arguments]   (default: --clients 4 --iterations 500)
#
# Environment: LATCH_BUILD (build directory, default <repo>/build).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export LATCH_BUILD=${LATCH_BUILD:-$ROOT/build}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: must run as root (tools/lab makes a network namespace)" >&2
	exit 1
fi

if [ -x tools/install-deps.sh ]; then
	tools/install-deps.sh
fi

if [ ! -f "$LATCH_BUILD/build.ninja" ]; then
	meson setup "$LATCH_BUILD"
fi
ninja -C "$LATCH_BUILD"

args=("$@")
if [ ${#args[@]} -eq 0 ]; then
	args=(--clients 4 --iterations 500)
fi

trap 'tools/lab down >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM
tools/lab up

echo
echo "demo: $ tools/lab exec latch-demo ${args[*]}"
rc=0
tools/lab exec latch-demo "${args[@]}" || rc=$?
echo
if [ "$rc" -eq 0 ]; then
	echo "demo: done. Try it yourself: tools/lab up; tools/lab exec latchctl lock acquire mykey"
else
	echo "demo: FAILED (exit $rc); latchd's log:" >&2
	tools/lab logs 30 >&2 || true
fi
exit "$rc"
