#!/usr/bin/env bash
# Reserve 2 MiB hugepages and mount hugetlbfs for DPDK, if this machine lets
# us. Never fails: latchd falls back to --no-huge by itself when the pages
# are not there (docs/operations.md, "hugepages").
want=${LATCH_HUGEPAGES:-512}
if [ "$(id -u)" -ne 0 ]; then
	echo "hugepages: not root, leaving hugepages as they are" >&2
	exit 0
fi
have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
if [ "$have" -lt "$want" ]; then
	echo "$want" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
fi
mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
if [ "$have" -lt "$want" ] || ! mountpoint -q /dev/hugepages; then
	echo "hugepages: only $have of $want pages (or no hugetlbfs); DPDK processes will use --no-huge" >&2
fi
exit 0
