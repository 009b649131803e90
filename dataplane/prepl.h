/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Partition replication: the dataplane half of Raft for one partition
 * (docs/raft.md, "the split"). Worker p of every node owns one; it wraps
 * partition p's log (dataplane/plog.h) and replicates it worker to worker:
 * a leader appends lock entries, sends APPEND/SNAPSHOT to worker p of each
 * follower, handles replies, commits (paper §5.3, §5.4.2: current-term
 * entries only, on a majority of the voters its view names, counting only
 * the acks of non-amnesic ones) and applies committed entries; a follower
 * runs Figure 2's receiver.
 *
 * It never decides a term or a role. Its control plane tells it, through
 * a VIEW on the local channel (control/raft/raft_chan.h), the term, role,
 * leader, voters and which of them count. It acknowledges an APPEND only
 * at exactly the view's term and from the view's leader; an APPEND (or
 * reply) of a higher term is dropped and reported up, so a term is always
 * persisted by the control plane before the dataplane acts in it (§5.2:
 * "if RPC request or response contains term T > currentTerm ...", done by
 * the control half). It reports its positions to the control plane every
 * heartbeat and after every view (the vote rule needs them).
 *
 * Events: prepl_chan() (a message from the control plane), prepl_recv()
 * (a message from a peer worker), prepl_propose() (a client's entry),
 * prepl_tick() (time). Effects through the callbacks of struct prepl_ops:
 * send() to a peer worker, report() to the control plane, apply/save/load
 * to the lock state machine, takeover() once a new leader applied every
 * earlier entry. A dataplane restart is prepl_restart() with a new
 * incarnation: the log is gone (amnesia).
 *
 * Pure: no clock, no system call, no global; allocation in prepl_create()
 * only. Thread safety: none; one owner (the worker lcore).
 */
#ifndef LATCH_PREPL_H
#define LATCH_PREPL_H

#include <stdbool.h>
#include <stdint.h>

#include "control/raft/raft_chan.h"
#include "dataplane/plog.h"

struct prepl_config {
	uint8_t id;             /* this node */
	uint16_t partition;     /* this replicator's partition (log id) */
	uint32_t heartbeat_ms;  /* leader heartbeat, resend, report period */
	struct plog_config log; /* the partition log */
};

struct prepl_ops {
	void (*send)(void *ctx, const struct raft_msg *m);
	void (*report)(void *ctx, const struct raft_chan_report *rep);
	void (*apply)(void *ctx, uint64_t index, const struct lock_entry *e);
	uint32_t (*save)(void *ctx, uint8_t *buf, uint32_t max);
	void (*load)(void *ctx, const uint8_t *buf, uint32_t len);
	/* Leader: every entry of earlier terms is applied (DESIGN.md,
	 * "counts every inherited lease as renewed at takeover"). */
	void (*takeover)(void *ctx, uint64_t now_ms);
	/* Optional: plog_ops.prefetch (the no-ops included). */
	void (*prefetch)(void *ctx, const struct lock_entry *const *e,
			 unsigned n);
};

/* Leader's view of a peer's dataplane, from its APPEND_REPLYs. */
struct prepl_peer {
	uint64_t incarnation;
	bool amnesic;
	bool heard; /* leader: a reply of this leadership came */
};

struct prepl {
	struct prepl_config cfg;
	struct prepl_ops ops;
	void *ctx;
	struct plog *log;
	uint64_t incarnation;
	struct raft_chan_view view; /* view.seq == 0: none yet */
	bool leading;               /* leader of view.term, no-op appended */
	bool lead_failed;
	bool taken_over;
	uint64_t now;
	uint64_t heartbeat_due;
	uint64_t probe_due;   /* leader: next resend to followers not heard */
	uint64_t probe_until; /* leader: resends stop at this time */
	uint64_t report_due;
	uint64_t seen_term;
	uint8_t seen_from;
	/* Puller: a snapshot pulled from pull_from (RAFT_NONE: none) is
	 * being received; without a chunk by pull_due the PULL is resent,
	 * pull_tries times at most in a row (docs/raft.md, "Pulling a
	 * snapshot"). pull_have: bytes held at the last chunk taken. */
	uint8_t pull_from;
	uint32_t pull_tries;
	uint32_t pull_have;
	uint64_t pull_due;
	struct prepl_peer peers[RAFT_NODES_MAX];
	struct raft_msg scratch;
	struct raft_chan_report rep;
};

/* Start-up: NULL and errno (EINVAL, ENOMEM). incarnation > 0. */
struct prepl *prepl_create(const struct prepl_config *cfg,
			   const struct prepl_ops *ops, void *ctx,
			   uint64_t incarnation);
void prepl_destroy(struct prepl *pp);
/* The dataplane restarted: log and view gone, @incarnation new. */
void prepl_restart(struct prepl *pp, uint64_t now, uint64_t incarnation);

/* A message from the local control plane (VIEW or PULL). */
void prepl_chan(struct prepl *pp, const struct raft_chan_down *d, uint64_t now);
/* A message from a peer's worker for this partition. */
void prepl_recv(struct prepl *pp, const struct raft_msg *m, uint64_t now);
/* Leader: replicate @e. Index, or -ENOTCONN (not leader), -EBUSY (leader
 * transfer, §3.10), -ENOSPC (ring full), -EINVAL (reserved op). */
int64_t prepl_propose(struct prepl *pp, const struct lock_entry *e,
		      uint64_t now);
/* Timers: heartbeats, resends, commit, periodic report. Returns the time
 * by which it wants to be called again. */
uint64_t prepl_tick(struct prepl *pp, uint64_t now);

static inline bool
prepl_is_amnesic(const struct prepl *pp)
{
	return pp->view.caught_up_incarnation != pp->incarnation;
}

static inline bool
prepl_is_leader(const struct prepl *pp)
{
	return pp->leading;
}

#endif /* LATCH_PREPL_H */
