/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's replication channel to its local latchd: the local
 * control channel of docs/raft.md ("the split"; control/raft/raft_chan.h)
 * carried over a Unix socket (docs/cluster.md, "control plane").
 *
 * latchd serves `<node.run_dir>/repl.sock`, AF_UNIX SOCK_SEQPACKET. This
 * module connects to it (non-blocking, driven by the loop) and reconnects
 * with exponential backoff while latchd is gone. Every datagram written is
 * exactly one struct raft_chan_down (a VIEW or a PULL); every datagram
 * read is exactly one struct raft_chan_report. Both are fixed-size structs
 * in host byte order (the two processes share the machine), so a datagram
 * of another size is refused and counted, never guessed at.
 *
 * Writes never block: a down message latchd cannot take at once (socket
 * buffer full, not connected) is dropped and counted. The control half
 * tolerates that (raft_chan.h: it resends its view every heartbeat, and
 * votes leave only on fresh reports).
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_REPL_CHAN_H
#define LATCH_CONTROL_REPL_CHAN_H

#include <stdbool.h>
#include <stdint.h>

#include "control/loop.h"
#include "control/raft/raft_chan.h"

/* Reconnect backoff: first and largest delay (latchd_chan.h's figures). */
#define REPL_CHAN_BACKOFF_MIN_MS 100
#define REPL_CHAN_BACKOFF_MAX_MS 5000

/* A REPORT of one partition from latchd. */
typedef void (*repl_report_fn)(void *ctx, const struct raft_chan_report *rep,
			       uint64_t now_ms);

struct repl_chan_stats {
	uint64_t connects;
	uint64_t disconnects;
	uint64_t sent;
	uint64_t send_drops; /* not connected or latchd's buffer full */
	uint64_t reports;
	uint64_t bad_reports; /* a datagram that is not one report */
};

struct repl_chan;

/* Start connecting to @path. NULL and errno (ENAMETOOLONG...). */
struct repl_chan *repl_chan_create(struct loop *l, const char *path,
				   repl_report_fn fn, void *ctx);
void repl_chan_destroy(struct repl_chan *rc);

/* Hand one message to latchd. 0, -ENOTCONN, -EAGAIN (dropped) or -errno. */
int repl_chan_send(struct repl_chan *rc, const struct raft_chan_down *d);

bool repl_chan_is_connected(const struct repl_chan *rc);
const struct repl_chan_stats *repl_chan_stats(const struct repl_chan *rc);

#endif /* LATCH_CONTROL_REPL_CHAN_H */
