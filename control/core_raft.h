/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * core_raft: the control half of Raft (control/raft/raft.h) behind the
 * seam of core.h. It turns each raft_ctl step's output (ops.send,
 * ops.chan, struct raft_effects) into a struct core_step that main.c
 * carries out with core_step_carry() (persist, then latchd, then peers).
 *
 * Start-up (docs/cluster.md, "control plane"): the persistent fields
 * (term, vote, caught-up incarnation) and the meta log come from the
 * store and are restored before raft_ctl_restart() with this start's
 * ctl_incarnation. A node of the initial configuration (profile
 * `control.bootstrap = yes`) whose store is new (term 0, nothing caught
 * up, empty meta log) takes the first dataplane incarnation latchd
 * reports at term 0 as caught up: before any leader exists no entry can
 * be committed, so that dataplane's empty logs are complete (the
 * simulator's bootstrap nodes start the same way, raft_ctl_create with
 * their first incarnation). Every other node starts amnesic and is
 * caught up by a leader (docs/raft.md, "the diskless rule").
 *
 * Thread safety: the loop's thread only.
 */
#ifndef LATCH_CONTROL_CORE_RAFT_H
#define LATCH_CONTROL_CORE_RAFT_H

#include <stdbool.h>
#include <stdint.h>

#include "control/core.h"
#include "control/store.h"

/* The meta log's ring: far more entries than a cluster's membership
 * changes and leaderships produce between restarts (the meta log is not
 * compacted to disk yet: docs/cluster.md, "limits"). */
#define CORE_RAFT_META_ENTRIES 4096
/* Meta APPENDs in flight per follower: two keep a heartbeat from waiting
 * on a lost reply without flooding a slow peer. */
#define CORE_RAFT_META_INFLIGHT 2

struct core_raft_config {
	uint8_t id;     /* profile node.id, < RAFT_NODES_MAX */
	uint8_t voters; /* initial configuration (mask of node ids) */
	uint16_t partitions;
	uint32_t election_ms;
	uint32_t heartbeat_ms;
	uint32_t beacon_ms; /* 0: heartbeat_ms */
	uint64_t seed;
	bool bootstrap; /* profile control.bootstrap */
};

/* Reads meta entry @index from the store (store_meta_read's contract). */
typedef int (*core_raft_meta_read_fn)(void *ctx, uint64_t index,
				      struct lock_entry *out);

struct core_raft;

/*
 * Create the core from what the disk kept (@s, and meta entries
 * @meta_first..@meta_last through @read) and restart it with
 * @ctl_incarnation (> 1, growing with every start: store_start_count() + 1).
 * @st receives the restart's step (its timer). NULL and errno: EINVAL
 * (bad config, or a meta log that starts after a snapshot, which this
 * version cannot restore), EIO (a meta entry does not follow its
 * predecessor), ENOMEM.
 */
struct core_raft *core_raft_create(const struct core_raft_config *cfg,
				   const struct store_state *s,
				   core_raft_meta_read_fn read, void *read_ctx,
				   uint64_t meta_first, uint64_t meta_last,
				   uint64_t ctl_incarnation, uint64_t now_ms,
				   struct core_step *st);
void core_raft_destroy(struct core_raft *c);

extern const struct core_ops core_raft_ops;

#endif /* LATCH_CONTROL_CORE_RAFT_H */
