#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
#
# perf/failover-time.py: one failover measurement in the several-node lab
# (perf/failover-time.sh runs it; docs/benchmarks.md "Replicated cluster").
#
# Runs inside the lab namespace (tools/lab exec), as root. Sends an ACQUIRE
# try for a fresh key every --interval-ms to EVERY node's data address (the
# same client and request id to all: only the leader grants, followers
# answer NOT_LEADER), checks that the leader grants, then SIGKILLs the
# leader's latch-control and latchd (what `tools/lab kill` does, without
# the shell's start-up time in the measurement; the timestamp is taken
# just before the first kill) and records, on CLOCK_MONOTONIC:
#
#   hint_ms:  first NOT_LEADER naming a new leader (count = its node id):
#             the new leader's view has reached a surviving dataplane;
#   grant_ms: first OK from a node other than the killed one: the new
#             leader has been elected, appended its no-op and committed a
#             client's entry: the failover time.
#
# Resolution: one request per interval, so grant_ms is late by at most one
# interval plus a round trip. Prints one JSON object on stdout.
#
# --signal STOP freezes the leader's processes instead (SIGSTOP): nothing
# answers for them, not even the kernel's ICMP port unreachable, so the
# survivors find the loss only by the election timeout, as for a dead host
# or a cut link (docs/cluster.md, "Failure detection").
#
# Plain UDP through the kernel is enough here: it measures the cluster's
# recovery (ms), not the packet path (microseconds).

import argparse
import json
import os
import select
import signal
import socket
import struct
import sys
import time

MAGIC = 0x4C54  # LATCH_MAGIC, include/latch/proto.h
VERSION = 1
OP_ACQUIRE = 1
OP_REPLY = 0x80
S_OK = 0
S_NOT_LEADER = 11  # position in LATCH_STATUS_LIST
HDR = struct.Struct("!HBBHHHHIQQ")  # struct latch_hdr, 32 bytes
FIELDS = struct.Struct("!QQII")  # struct latch_fields, 24 bytes


def key_partition(key, partitions):
    """latch_key_partition() of include/latch/proto.h (FNV-1a 64, folded)."""
    h = 0xCBF29CE484222325
    for b in key:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return ((h ^ (h >> 32)) & 0xFFFFFFFF) % partitions


def read_pid(path):
    with open(path) as f:
        return int(f.read().strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--leader", required=True, help="node name, e.g. lab2")
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--state", default="/run/latch-lab")
    ap.add_argument("--port-base", type=int, default=7400)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--interval-ms", type=float, default=1.0)
    ap.add_argument("--warmup-ms", type=float, default=300.0)
    ap.add_argument("--timeout-s", type=float, default=10.0)
    ap.add_argument("--tag", default="t")
    ap.add_argument("--signal", choices=("KILL", "STOP"), default="KILL",
                    help="KILL: a dead process; STOP: a silent one")
    a = ap.parse_args()

    old = int(a.leader.replace("lab", ""))
    addrs = {"198.18.0.%d" % k: k for k in range(1, a.nodes + 1)}
    pids = []
    for name in ("%s.control.pid" % a.leader, "%s.pid" % a.leader):
        try:
            pids.append(read_pid(os.path.join(a.state, name)))
        except (OSError, ValueError):
            pass
    if not pids:
        print("failover-time: no pid for %s" % a.leader, file=sys.stderr)
        return 1

    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", 0))
    s.setblocking(False)
    client_id = (os.getpid() << 16) | (time.monotonic_ns() & 0xFFFF) or 1
    rid = 0
    sent_at = {}
    interval = int(a.interval_ms * 1e6)
    t_start = time.monotonic_ns()
    t_kill = None
    warm_ok = 0
    hint = grant = None
    grant_node = None
    grant_rid_sent = None
    prev_sent = None
    next_send = t_start
    deadline = t_start + int((a.warmup_ms / 1000.0 + a.timeout_s) * 1e9)

    while True:
        now = time.monotonic_ns()
        if t_kill is None and now - t_start >= a.warmup_ms * 1e6:
            if warm_ok == 0:
                print("failover-time: the leader %s granted nothing in "
                      "the warm-up" % a.leader, file=sys.stderr)
                return 1
            t_kill = time.monotonic_ns()
            t_kill_wall = time.time()
            sig = signal.SIGKILL if a.signal == "KILL" else signal.SIGSTOP
            for p in pids:
                try:
                    os.kill(p, sig)
                except ProcessLookupError:
                    pass
        if now >= next_send:
            rid += 1
            key = ("fo-%s-%d" % (a.tag, rid)).encode()
            part = key_partition(key, a.partitions)
            msg = HDR.pack(MAGIC, VERSION, OP_ACQUIRE, 0, part, len(key),
                           0, 0, client_id, rid)
            msg += FIELDS.pack(0, 0, 1000, 0) + key
            for ip in addrs:
                try:
                    s.sendto(msg, (ip, a.port_base + part))
                except OSError:
                    pass  # the dead node's neighbour entry may fail
            sent_at[rid] = now
            next_send += interval
            if next_send < now:
                next_send = now + interval
        if grant is not None or now > deadline:
            break
        wait = max(0.0, (next_send - time.monotonic_ns()) / 1e9)
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            continue
        while True:
            try:
                data, src = s.recvfrom(2048)
            except BlockingIOError:
                break
            t = time.monotonic_ns()
            if len(data) < HDR.size:
                continue
            (_, _, op, _, _, _, status, count, cid,
             req) = HDR.unpack_from(data)
            node = addrs.get(src[0])
            if cid != client_id or op != (OP_ACQUIRE | OP_REPLY):
                continue
            if t_kill is None:
                if status == S_OK and node == old:
                    warm_ok += 1
                continue
            if sent_at.get(req, 0) < t_kill:
                continue  # sent before the kill: not the new leader's
            if (hint is None and status == S_NOT_LEADER and count
                    and count != old):
                hint = t
            if status == S_OK and node != old and grant is None:
                grant = t
                grant_node = node
                grant_rid_sent = sent_at[req]
                prev_sent = sent_at.get(req - 1)

    res = {"killed": a.leader, "signal": a.signal,
           "interval_ms": a.interval_ms,
           # Wall clock of the kill, to read the nodes' logs against.
           "killed_at": (time.strftime("%H:%M:%S", time.gmtime(t_kill_wall))
                         + ".%03dZ" % (int(t_kill_wall * 1000) % 1000)
                         if t_kill is not None else None),
           "warmup_grants": warm_ok, "requests": rid}
    if grant is None:
        res.update({"grant_ms": None, "hint_ms": None,
                    "error": "no grant within %g s" % a.timeout_s})
    else:
        res.update({
            "grant_ms": round((grant - t_kill) / 1e6, 3),
            "new_leader": "lab%d" % grant_node,
            # The grant's request left at sent_ms; the one before it was
            # refused or unanswered: service resumed in (prev, sent].
            "granted_request_sent_ms": round(
                (grant_rid_sent - t_kill) / 1e6, 3),
            "previous_request_sent_ms": (
                round((prev_sent - t_kill) / 1e6, 3)
                if prev_sent is not None else None),
            "hint_ms": (round((hint - t_kill) / 1e6, 3)
                        if hint is not None else None)})
    print(json.dumps(res))
    return 0 if grant is not None else 1


if __name__ == "__main__":
    sys.exit(main())
