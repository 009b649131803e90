/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The seam where the Raft core plugs into latch-control.
 *
 * The core (control/raft/, the control half of Raft) is a pure step
 * function. latch-control feeds it three kinds of event — a timer, a
 * message from a peer, a REPORT from the local latchd (control/repl_chan.h)
 * — plus operator commands, and each step answers with a struct core_step:
 * what to persist, which channel messages (VIEW, PULL) to hand to latchd,
 * which messages to send to peers, when to be called again.
 * core_step_carry() carries a step out in the only order that is safe
 * (docs/raft.md, "Ordering the shell must honour"; DESIGN.md: "Term and
 * vote are written to disk and fsynced before a vote is sent; the local
 * dataplane is moved to the new term before the vote leaves"):
 *
 *   1. persist: term/vote and caught_up_incarnation (store_save_state),
 *      the meta log from an index (truncate, append, store_sync);
 *   2. hand the channel messages to latchd;
 *   3. send the peer messages.
 *
 * A failure at 1 sends nothing: the step's messages would promise what
 * the disk does not hold. A channel message latchd cannot take now is
 * dropped and counted (the core resends its view every heartbeat, and
 * votes leave only on fresh reports, raft.h), so 2 never stops a step.
 *
 * Two cores exist: core_raft (core_raft.h) that main.c runs, and
 * core_null, a follower at term 0 that never steps, for tests of the
 * shell alone.
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_CORE_H
#define LATCH_CONTROL_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "control/latchd_chan.h"
#include "control/raft/raft_chan.h"
#include "control/raft/raft_msg.h"
#include "control/store.h"

/* Messages one step may emit: a heartbeat or a vote round to every peer
 * with a pipeline of meta APPENDs each (raft_ctl's inflight), with room
 * to spare. More is dropped and counted (Raft tolerates loss). */
#define CORE_OUT_MAX (8 * RAFT_NODES_MAX)
/* Channel messages of one step: a view and a PULL per partition. */
#define CORE_CHAN_MAX (LATCH_PARTITIONS_MAX + 2)
/* No leader known. */
#define CORE_NO_LEADER (-1)

/* What one step asks of the shell (filled by the core). */
struct core_step {
	bool persist_state; /* write @state (term, vote, caught-up) */
	struct store_state state;
	uint64_t persist_meta_from; /* 0: none; else rewrite from here */
	unsigned chan_count;
	struct raft_chan_down chan[CORE_CHAN_MAX];
	unsigned out_count;
	struct raft_msg out[CORE_OUT_MAX];
	unsigned dropped;  /* messages beyond CORE_OUT_MAX / CORE_CHAN_MAX */
	uint64_t timer_ms; /* call on_timer at or before; 0: no change */
};

/* What cluster_status shows of the core. */
struct core_view {
	uint64_t term;
	const char *role; /* "follower", "pre-candidate", "candidate", ... */
	int leader;       /* node id, or CORE_NO_LEADER */
	bool integrated;  /* false: the null core */
	uint8_t voters;   /* configuration in force (masks); 0: unknown */
	uint8_t learners;
	bool amnesic; /* this node (docs/raft.md, "the diskless rule") */
	uint64_t ctl_incarnation;
	uint64_t dp_incarnation; /* latchd's boot epoch; 0: unknown */
	uint64_t caught_up_incarnation;
	uint64_t meta_last;
	uint64_t meta_commit;
	/* Latest REPORT per partition (commit, applied); NULL: none. */
	unsigned partitions;
	const struct raft_chan_report *reports;
};

struct core_ops {
	void (*on_timer)(void *core, uint64_t now_ms, struct core_step *st);
	void (*on_message)(void *core, const struct raft_msg *m,
			   uint64_t now_ms, struct core_step *st);
	void (*on_latchd)(void *core, const struct latchd_report *r,
			  uint64_t now_ms, struct core_step *st);
	/* Peer @node's host refused our datagram: its process is gone. */
	void (*on_peer_gone)(void *core, uint8_t node, uint64_t now_ms,
			     struct core_step *st);
	/* A REPORT from latchd's replication channel. */
	void (*on_report)(void *core, const struct raft_chan_report *rep,
			  uint64_t now_ms, struct core_step *st);
	/* Operator commands: 0 or -errno (-ENOTCONN: not the leader,
	 * -EINVAL, -EBUSY: a change is under way). */
	int (*transfer)(void *core, uint8_t target, uint64_t now_ms,
			struct core_step *st);
	int (*add_learner)(void *core, uint8_t node, uint64_t now_ms,
			   struct core_step *st);
	/* Remove a learner or a voter, the leader itself included. */
	int (*remove_member)(void *core, uint8_t node, uint64_t now_ms,
			     struct core_step *st);
	void (*view)(const void *core, struct core_view *v);
	/* Meta log entry @index as the core holds it (for persisting);
	 * last index through meta_last. */
	int (*meta_get)(const void *core, uint64_t index, struct lock_entry *e);
	uint64_t (*meta_last)(const void *core);
};

/* What the shell does for a step: one function per effect, so tests can
 * record the order. Each returns 0 or -errno. */
struct core_io {
	int (*persist_state)(void *ctx, const struct store_state *s);
	int (*persist_meta)(void *ctx, const struct core_ops *ops,
			    const void *core, uint64_t from);
	int (*chan)(void *ctx, const struct raft_chan_down *d);
	int (*send)(void *ctx, const struct raft_msg *m);
};

/*
 * Carry out @st in order: persist, hand the channel messages to latchd,
 * send. Returns 0, or the first error of persisting (then nothing was
 * handed on or sent; the caller must stop the node: its disk is not
 * trustworthy). Channel and send errors are counted by their modules
 * and do not stop the step: the core tolerates lost messages on both.
 */
int core_step_carry(const struct core_io *io, void *ctx,
		    const struct core_ops *ops, const void *core,
		    const struct core_step *st);

/* The null core: term 0, follower, no leader, never emits anything. */
extern const struct core_ops core_null_ops;

#endif /* LATCH_CONTROL_CORE_H */
