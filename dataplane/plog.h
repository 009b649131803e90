/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One replicated log: a partition log (entries are struct lock_entry) or,
 * reusing the same code, the control plane's meta log (docs/raft.md).
 *
 * The log is a fixed-size ring of entries sized at creation; indices start
 * at 1. Entries up to snap_index live only in the snapshot (produced by the
 * apply layer through ops->save), and are dropped only once a complete
 * snapshot of the state they produced is held: a state that cannot be
 * saved leaves the ring uncompacted (it fills, and the leader refuses
 * proposals), never a snapshot that forgets it. A snapshot larger than
 * one message travels in chunks (docs/raft.md, "Snapshots in chunks"):
 * the leader sends from its snapshot buffer, the follower accumulates
 * into a second buffer of the same size and installs when complete.
 * This file implements the AppendEntries
 * step for one log (Raft paper §5.3, §5.4.2, §7): the follower's
 * consistency check, conflict truncation and commit, and the leader's
 * per-follower next/match index with batching and pipelining, and its
 * commit rule. Term and role checks belong to the caller (control/raft):
 * these functions trust that a message comes from the current leader.
 *
 * Pure: no clock, no system call, no global, no allocation after
 * plog_create(). Thread safety: none; one owner (a worker lcore or a
 * simulated node).
 */
#ifndef LATCH_PLOG_H
#define LATCH_PLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "control/raft/raft_msg.h"
#include "dataplane/lock_table.h"

/* entry.op of the no-op a new leader appends to every log (§5.4.2). */
#define PLOG_OP_NOOP 0
/* ops->save's answer when the state does not fit: nothing is compacted. */
#define PLOG_SAVE_FAILED UINT32_MAX
/* Largest snapshot_max: chunk offsets and totals are u32 on the wire, and
 * 1 GiB is far above any table a profile can size (docs/snapshot.md). */
#define PLOG_SNAPSHOT_LIMIT (1u << 30)

struct plog_config {
	uint32_t entries_max;  /* ring size, power of two */
	uint32_t batch_max;    /* entries per APPEND, <= RAFT_BATCH_MAX */
	uint32_t bytes_max;    /* and their encoded bytes (raft_wire.h) at
				* most, but always one: 0 (no bound) or at
				* least RAFT_WIRE_ENTRY_MAX_LEN */
	uint32_t inflight_max; /* APPENDs (or snapshot chunks) in flight per
				* follower (pipelining) */
	uint32_t snapshot_max; /* bytes of the largest state the apply layer
				* can save, <= PLOG_SNAPSHOT_LIMIT; two
				* buffers of this size are allocated */
	uint32_t chunk_max;    /* snapshot bytes per SNAPSHOT message,
				* <= RAFT_SNAPSHOT_MAX; 0: the smaller of
				* snapshot_max and RAFT_SNAPSHOT_MAX */
};

/*
 * Callbacks into the apply layer. apply is called for every committed
 * entry in index order, once per entry per incarnation; save writes the
 * state as of the last applied entry into @buf and returns its length, or
 * PLOG_SAVE_FAILED (any value above @max) if it does not fit, having
 * written anything into @buf; load replaces the state. prefetch, if set,
 * is told the next entries apply is about to be given, up to
 * PLOG_APPLY_BATCH at a time, so it can start their cache misses
 * together; it must change no state.
 */
struct plog_ops {
	void (*apply)(void *ctx, uint64_t index, const struct lock_entry *e);
	uint32_t (*save)(void *ctx, uint8_t *buf, uint32_t max);
	void (*load)(void *ctx, const uint8_t *buf, uint32_t len);
	void (*prefetch)(void *ctx, const struct lock_entry *const *e,
			 unsigned n);
};

/* Most entries announced to ops.prefetch at once. */
#define PLOG_APPLY_BATCH 32

/*
 * Leader's view of one follower (paper Figure 2, nextIndex/matchIndex).
 * While next is at or below the snapshot the follower is sent the
 * snapshot's chunks: snap_index names which snapshot (it restarts at
 * chunk 0 when the leader compacts again), snap_next is the next chunk to
 * send and snap_acked how many the follower holds; at most inflight_max
 * are unanswered.
 */
struct plog_progress {
	uint64_t next;
	uint64_t match;
	/* Where this leadership's first APPEND to the follower started
	 * (the leader's last + 1), and whether any reply came since: until
	 * one does, a retransmission resends that probe, not the log. */
	uint64_t probe;
	bool heard;
	uint32_t inflight; /* APPENDs sent since the last reply or reset */
	uint32_t snap_next;
	uint32_t snap_acked;
	uint64_t snap_index; /* 0: no snapshot being sent */
};

struct plog {
	struct plog_config cfg;
	struct plog_ops ops;
	void *ctx;
	uint64_t mask;
	struct lock_entry *ring;
	uint64_t snap_index; /* last index covered by the snapshot */
	uint64_t snap_term;
	/*
	 * The ring holds entries (base, last]; base <= snap_index. Entries
	 * at or below the snapshot are kept while there is room, so a
	 * follower a little behind is sent entries, not the whole snapshot
	 * (docs/raft.md, "Ring sizing and snapshots").
	 */
	uint64_t base;
	uint64_t base_term;
	uint64_t last;
	uint64_t commit;
	uint64_t applied;
	uint64_t term_start; /* leader: index of its no-op in this log */
	uint64_t mod_lo;     /* lowest index changed since plog_mod_clear() */
	uint32_t snap_len;
	uint8_t *snap_buf; /* the state as of snap_index, snap_len bytes */
	/* Follower: the snapshot being received in chunks (rx_index 0:
	 * none); rx_have bytes from the first are in rx_buf. A compaction
	 * saves into rx_buf too (and then swaps it with snap_buf), so a
	 * failed save never damages the snapshot held. */
	uint8_t *rx_buf;
	uint8_t rx_from;    /* RAFT_NONE: a leader's chunks; else the node
			     * whose chunks answered this node's PULLs */
	uint64_t rx_source; /* whose bytes: see plog_install_chunk() and
			     * plog_pull_chunk() */
	uint64_t rx_index;
	uint64_t rx_term;
	uint32_t rx_total;
	uint32_t rx_have;
	uint64_t save_failed; /* compactions refused: the state did not fit */
	struct plog_progress peers[RAFT_NODES_MAX];
};

/* What plog_leader_send() filled. */
enum plog_send {
	PLOG_SEND_NONE = 0,
	PLOG_SEND_APPEND = 1,
	PLOG_SEND_SNAPSHOT = 2,
};

/* Start-up only: -EINVAL and NULL for a bad config, NULL/ENOMEM. */
struct plog *plog_create(const struct plog_config *cfg,
			 const struct plog_ops *ops, void *ctx);
void plog_destroy(struct plog *pl);
int plog_config_check(const struct plog_config *cfg);

/* Forget everything: the dataplane restarted (amnesia). */
void plog_reset(struct plog *pl);

struct raft_pos plog_last_pos(const struct plog *pl);
/* Term of entry @index; false if it is compacted (below the ring and not
 * the snapshot's last) or beyond the end. */
bool plog_term_at(const struct plog *pl, uint64_t index, uint64_t *term);
/* Entry @index or NULL when not in the ring. */
const struct lock_entry *plog_entry(const struct plog *pl, uint64_t index);
/* §5.4.1: is a log ending at @pos at least as up to date as this one? */
bool plog_is_up_to_date(const struct plog *pl, struct raft_pos pos);

/* Leader: append @e (its term already set). Returns the index, or
 * -ENOSPC when the ring is full of unapplied entries. */
int64_t plog_append(struct plog *pl, const struct lock_entry *e);
/* New leader: append its no-op; -ENOSPC only if the ring is full of
 * unapplied entries. */
int64_t plog_append_noop(struct plog *pl, const struct lock_entry *e);

/* Follower side of AppendEntries (§5.3). Sets *index as the reply's. */
bool plog_follower_append(struct plog *pl, const struct raft_msg_append *a,
			  uint64_t *index);
/* Follower side of InstallSnapshot (§7) for a whole snapshot of at most
 * chunk_max bytes (the meta log's). Returns the matched index. */
uint64_t plog_install_snapshot(struct plog *pl, uint64_t index, uint64_t term,
			       const uint8_t *data, uint32_t len);

/* What plog_install_chunk() did, and so what the follower answers. */
enum plog_chunk {
	PLOG_CHUNK_BAD = 0,  /* malformed or too large: drop, no answer */
	PLOG_CHUNK_MORE = 1, /* SNAPSHOT_REPLY with *have bytes */
	PLOG_CHUNK_DONE = 2, /* APPEND_REPLY, success, *index */
};

/*
 * Follower side of InstallSnapshot in chunks (§7, offset and done).
 * @source names whose bytes the chunk holds: the leader's term (one
 * leader per term, and its snapshot of an index never changes). Two
 * replicas' snapshots of one index hold the same state in possibly
 * different byte order (docs/snapshot.md: lock order follows slots), so
 * chunks of different sources are never mixed.
 */
enum plog_chunk plog_install_chunk(struct plog *pl,
				   const struct raft_msg_snapshot *s,
				   uint64_t source, uint64_t *index,
				   uint32_t *have);
/*
 * Puller side of a snapshot pulled in chunks (docs/raft.md, "Pulling a
 * snapshot"): a chunk flagged RAFT_SNAPSHOT_F_PULLED from node @from.
 * Taken as plog_install_chunk() takes a leader's, but its bytes are
 * named by (@from, s->incarnation, index, term), never mixed with a
 * leader's or another node's. A snapshot at or below commit changes
 * nothing (PLOG_CHUNK_DONE). The caller checks that it may pull (not
 * leading, not amnesic).
 */
enum plog_chunk plog_pull_chunk(struct plog *pl,
				const struct raft_msg_snapshot *s, uint8_t from,
				uint64_t *index, uint32_t *have);
/* Puller: fill @req's snapshot progress for a PULL to @from (how far it
 * got in @from's snapshot; zero if it holds none of it). */
void plog_pull_progress(const struct plog *pl, uint8_t from,
			struct raft_msg_pull *req);
/* Extend (or repair) this log from a more up-to-date peer's tail; see
 * docs/raft.md, "pull". Returns how many entries were taken; *matched is
 * the last index now known equal to the source's (0 if none). */
uint32_t plog_pull_apply(struct plog *pl, const struct raft_msg_append *a,
			 uint64_t *matched);
/* Fill a PULL_REPLY for a puller whose log ends at @last with @commit. */
bool plog_pull_fill(const struct plog *pl, struct raft_pos last,
		    uint64_t commit, struct raft_msg_append *out);
/* Source: must a puller whose log ends at @last with @commit be sent the
 * snapshot (the entries it needs are compacted here)? */
bool plog_pull_needs_snapshot(const struct plog *pl, struct raft_pos last,
			      uint64_t commit);
/*
 * Source: fill @out with chunk @k (0 .. @window - 1) of the answer to
 * PULL @req: chunks of the snapshot held, from where @req says the
 * puller's bytes of it end (if @req names this snapshot and this
 * @incarnation), else from its first byte. False once past the end.
 */
bool plog_pull_snapshot_fill(const struct plog *pl,
			     const struct raft_msg_pull *req,
			     uint64_t incarnation, uint32_t k, uint32_t window,
			     struct raft_msg_snapshot *out);

/* Leader: reset progress of every peer on election (§5.3). */
void plog_leader_start(struct plog *pl);
/* Leader: forget a follower's progress (its dataplane restarted). */
void plog_leader_reset_peer(struct plog *pl, unsigned peer);
/* Leader: next message for @peer; @heartbeat forces an (empty) APPEND. */
enum plog_send plog_leader_send(struct plog *pl, unsigned peer, bool heartbeat,
				struct raft_msg *out);
/* Leader: a follower's APPEND_REPLY. */
void plog_leader_reply(struct plog *pl, unsigned peer, bool success,
		       uint64_t index);
/* Leader: a follower's SNAPSHOT_REPLY (it holds @have bytes of @index). */
void plog_leader_snapshot_reply(struct plog *pl, unsigned peer, uint64_t index,
				uint32_t have);
/* Leader: after a heartbeat period without an answer, resend from match. */
void plog_leader_retransmit(struct plog *pl, unsigned peer);
/*
 * Leader: advance commit to the highest index of @term held by a majority
 * of @voters (§5.4.2), counting @counted (voters whose acks count) and
 * itself as @self. Applies what became committed. Returns true if commit
 * moved.
 */
bool plog_leader_commit(struct plog *pl, uint64_t term, uint8_t voters,
			uint8_t counted, unsigned self);

/* Apply committed entries not yet applied, in order. */
void plog_apply(struct plog *pl);

/* Checkers (the simulator): lowest index changed since the last clear. */
static inline void
plog_mod_clear(struct plog *pl)
{
	pl->mod_lo = UINT64_MAX;
}

#endif /* LATCH_PLOG_H */
