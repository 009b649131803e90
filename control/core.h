/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The seam where the Raft core plugs into latch-control.
 *
 * The core (control/raft/, being split into a control-plane half and a
 * dataplane half) is a pure step function. latch-control feeds it three
 * kinds of event — a timer, a message from a peer, a report from the
 * local latchd — and each step answers with a struct core_step: what to
 * persist, whether to move the dataplane to a new term, which messages to
 * send, when to be called again. core_step_carry() carries a step out in
 * the only order that is safe (docs/raft.md, "Ordering the shell must
 * honour"; DESIGN.md: "Term and vote are written to disk and fsynced
 * before a vote is sent; the local dataplane is moved to the new term
 * before the vote leaves"):
 *
 *   1. persist: term/vote and caught_up_incarnation (store_save_state),
 *      the meta log from an index (truncate, append, store_sync);
 *   2. tell the dataplane the term;
 *   3. send the messages.
 *
 * A failure at 1 or 2 sends nothing: the step's messages would promise
 * what the disk or the dataplane does not hold.
 *
 * Until the core is integrated, main.c runs core_null (core_null.c): a
 * follower at term 0 that never steps, so the process, its API and its
 * pages work with real membership and liveness and honest "no leader".
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_CORE_H
#define LATCH_CONTROL_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "control/latchd_chan.h"
#include "control/raft/raft_msg.h"
#include "control/store.h"

/* Messages one step may emit: a heartbeat or a vote round to every peer,
 * for each log, with room to spare. */
#define CORE_OUT_MAX (2 * RAFT_NODES_MAX)
/* No leader known. */
#define CORE_NO_LEADER (-1)

/* What one step asks of the shell (filled by the core). */
struct core_step {
	bool persist_state; /* write @state (term, vote, caught-up) */
	struct store_state state;
	uint64_t persist_meta_from; /* 0: none; else rewrite from here */
	bool set_dataplane_term;
	uint64_t dataplane_term;
	unsigned out_count;
	struct raft_msg out[CORE_OUT_MAX];
	uint64_t timer_ms; /* call on_timer at or before; 0: no change */
};

/* What cluster_status shows of the core. */
struct core_view {
	uint64_t term;
	const char *role; /* "follower", "pre-candidate", "candidate", ... */
	int leader;       /* node id, or CORE_NO_LEADER */
	bool integrated;  /* false: the null core */
};

struct core_ops {
	void (*on_timer)(void *core, uint64_t now_ms, struct core_step *st);
	void (*on_message)(void *core, const struct raft_msg *m,
			   uint64_t now_ms, struct core_step *st);
	void (*on_latchd)(void *core, const struct latchd_report *r,
			  uint64_t now_ms, struct core_step *st);
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
	int (*set_dataplane_term)(void *ctx, uint64_t term);
	int (*send)(void *ctx, const struct raft_msg *m);
};

/*
 * Carry out @st in order: persist, tell the dataplane, send. Returns 0,
 * or the first error of persist / set_dataplane_term (then nothing was
 * sent; the caller must stop the node: its disk is not trustworthy).
 * Send errors are counted by the sender and do not stop the step: Raft
 * tolerates lost messages.
 */
int core_step_carry(const struct core_io *io, void *ctx,
		    const struct core_ops *ops, const void *core,
		    const struct core_step *st);

/* The null core: term 0, follower, no leader, never emits anything. */
extern const struct core_ops core_null_ops;

#endif /* LATCH_CONTROL_CORE_H */
