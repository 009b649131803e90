/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pure helpers of latchd's replicated mode (docs/cluster.md): the frame
 * that carries a raft_msg between worker p of two nodes, the redirect a
 * follower answers with (docs/protocol.md, "Redirects"), and the pending
 * table that keeps a leader's requests until their entries are applied.
 *
 * No DPDK, no clock, no global: the worker (dataplane/worker.c) is the
 * shell. Thread safety: none; a pending table has one owner (a worker).
 */
#ifndef LATCH_REPL_PKT_H
#define LATCH_REPL_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/lock_table.h"
#include "dataplane/pkt.h"

/*
 * Write Ethernet, IPv4 (no options, DF, TTL 64, checksum) and UDP headers
 * (no checksum, legal for IPv4: RFC 768) in front of the @payload_len
 * bytes already at @frame + PKT_UDP_PAYLOAD_OFF. Returns the frame's
 * length, padded with zeros to the Ethernet minimum (the caller's buffer
 * must hold PKT_ETH_MIN_LEN bytes), or 0 if the datagram is longer than
 * IPv4 allows. Any thread.
 */
size_t repl_pkt_headers(uint8_t *frame, const uint8_t dst_mac[6],
			const uint8_t src_mac[6], uint32_t src_ip_be,
			uint32_t dst_ip_be, uint16_t src_port,
			uint16_t dst_port, size_t payload_len);

/*
 * NOT_LEADER's holder field (docs/protocol.md, "Redirects"): bits 0-31
 * the leader's IPv4 address as a number (a.b.c.d is a << 24 | b << 16 |
 * c << 8 | d), bits 32-47 its base UDP port. @ip_be 0 (no leader known)
 * gives 0.
 */
uint64_t repl_redirect_holder(uint32_t ip_be, uint16_t port_base);

/*
 * Bytes of the largest snapshot a lock table of @cfg can save (format
 * version 1, docs/snapshot.md): every pool full, every key LATCH_KEY_MAX
 * bytes long, every request bound to a session. The replicator's two
 * snapshot buffers are this size (docs/raft.md, "Snapshots in chunks"), so
 * a save at compaction cannot fail. Start-up; any thread.
 */
uint64_t repl_snapshot_max(const struct lock_table_config *cfg);

/*
 * Requests a leader proposed, by log index, until their entries are
 * applied (then answered) or the leadership ends (then redirected).
 * Entry i lives in slot i & (slots - 1); a slot still taken by an older
 * index makes a new proposal wait (answered BUSY by the worker), so the
 * table is bounded by @slots. Values are opaque (the worker's mbufs).
 */
struct repl_pending_slot {
	uint64_t index; /* 0: free */
	uint64_t client_id;
	uint64_t request_id;
	void *value;
	uint8_t port; /* the worker's port slot of the request */
};

struct repl_pending {
	uint32_t mask;
	uint32_t used;
	struct repl_pending_slot *slots;
};

/* @slots: power of two, the caller's array of that many. 0 or -EINVAL. */
int repl_pending_init(struct repl_pending *pt, struct repl_pending_slot *slots,
		      uint32_t count);
/* May index @index be stored now? */
bool repl_pending_can_put(const struct repl_pending *pt, uint64_t index);
/* Store; the slot must be free (repl_pending_can_put). */
void repl_pending_put(struct repl_pending *pt, uint64_t index,
		      uint64_t client_id, uint64_t request_id, void *value,
		      uint8_t port);
/*
 * Take what waits for @index: true and *@out filled if a request was
 * stored at exactly that index (the slot is freed), else false.
 */
bool repl_pending_take(struct repl_pending *pt, uint64_t index,
		       struct repl_pending_slot *out);
/*
 * Take any stored request (leadership ended: every one is redirected).
 * true and *@out filled, or false when the table is empty.
 */
bool repl_pending_pop(struct repl_pending *pt, struct repl_pending_slot *out);

#endif /* LATCH_REPL_PKT_H */
