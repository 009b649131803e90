#!/usr/bin/env bash
# Install the Debian packages latch needs to build, test and run, if any is
# missing. Idempotent and quiet when everything is there already.
set -euo pipefail

# dpdk: the dataplane, dpdk-testpmd and dpdk-telemetry.py; libnuma: NUMA-local
# allocation; cmocka: unit tests; python3: integration tests send raw packets;
# iproute2: tools/lab's network namespaces; json-c: latchctl reads
# latchd's stats; gnuplot: perf/ plots.
# curl: tests/integration/test_control.sh reads latch-control's /status
# and /metrics over HTTP (json-c also serves latch-control's API).
packages=(
	dpdk dpdk-dev libdpdk-dev libnuma-dev libcmocka-dev
	meson ninja-build pkg-config gcc
	libjson-c-dev python3 iproute2 gnuplot-nox curl
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
