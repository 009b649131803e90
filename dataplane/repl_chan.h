/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The local control channel's latchd end (docs/cluster.md, "channel"):
 * the main lcore serves <node.run_dir>/repl.sock, an AF_UNIX
 * SOCK_SEQPACKET socket, to one client at a time (latch-control; a new
 * connection replaces the old). Each datagram from it is one struct
 * raft_chan_down, relayed to worker p's down ring (a VIEW of partition
 * RAFT_CHAN_ALL to every worker); each datagram to it is one struct
 * raft_chan_report, taken from the workers' up rings. Wrong sizes and
 * unknown partitions are counted and dropped; a report the socket cannot
 * take at once is dropped and counted (reports repeat every heartbeat).
 * Workers write the channel's eventfd after queueing a report, so the
 * main lcore relays it at once rather than at its next timed wake-up (an
 * election waits for such reports twice).
 *
 * Thread safety: the main lcore only (it is the single producer of the
 * down rings and the single consumer of the up rings).
 */
#ifndef LATCH_REPL_CHAN_H
#define LATCH_REPL_CHAN_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_ring.h>

#include "dataplane/wake.h"

/* Descriptors repl_chan_pollfds() may fill: wake-up, listener, client. */
#define REPL_CHAN_POLLFDS_MAX 3

struct repl_chan_counters {
	uint64_t connections;
	uint64_t down_relayed; /* datagrams relayed to a worker */
	uint64_t down_bad;     /* wrong size, type or partition */
	uint64_t down_full;    /* a worker's down ring was full */
	uint64_t reports_sent;
	uint64_t reports_dropped; /* socket full or no client */
};

struct repl_chan;

/*
 * Serve @path (an old socket file there is replaced). @down[w] and @up[w]
 * for w < @workers: the rings of rte_ring_create_elem() with elements of
 * struct raft_chan_down and struct raft_chan_report. @wake[w]: the wake
 * word (wake.h) of the lcore that runs worker w, kicked after a message is
 * queued for it, or @wake NULL when workers are not woken. NULL and errno. Main lcore, start-up.
 */
struct repl_chan *repl_chan_create(const char *path, struct rte_ring **down,
				   struct rte_ring **up,
				   struct wake *const *wake, uint16_t workers);
void repl_chan_destroy(struct repl_chan *c);

/* The eventfd a worker writes (8 bytes, any value) after queueing a
 * report; safe from any lcore. */
int repl_chan_wake_fd(const struct repl_chan *c);

/* Fill @fds (REPL_CHAN_POLLFDS_MAX at most); returns how many. */
unsigned repl_chan_pollfds(const struct repl_chan *c, struct pollfd *fds);

/*
 * Handle what poll() said about @fds (from repl_chan_pollfds), then move
 * every report waiting in the up rings to the client. Call on every pass
 * of the main loop, whether or not poll() found anything.
 */
void repl_chan_process(struct repl_chan *c, const struct pollfd *fds,
		       unsigned n);

void repl_chan_counters(const struct repl_chan *c,
			struct repl_chan_counters *out);

#endif /* LATCH_REPL_CHAN_H */
