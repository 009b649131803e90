# SPDX-License-Identifier: BSD-3-Clause
"""The backends of the routing tests (route_lib.sh, rt_start_receivers).

route_recv.py LOG READY FORMAT NAME=ADDR:PORT...
binds one UDP socket per NAME, creates READY once all are bound, then
writes every datagram to LOG as "NAME DATA" on its own line, flushed at
once: DATA as hex (FORMAT hex) or as ASCII text (FORMAT text). Exits after
300 s without a datagram.
"""
import select
import socket
import sys

log, ready_path, fmt = sys.argv[1:4]
socks = {}
for spec in sys.argv[4:]:
    name, addr = spec.split("=", 1)
    host, port = addr.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind((host, int(port)))
    socks[s] = name
out = open(log, "w")
open(ready_path, "w").close()
while True:
    ready, _, _ = select.select(list(socks), [], [], 300)
    if not ready:
        break
    for s in ready:
        data, _ = s.recvfrom(65536)
        text = data.hex() if fmt == "hex" else data.decode("ascii", "replace")
        out.write("%s %s\n" % (socks[s], text))
        out.flush()
