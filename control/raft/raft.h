/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Raft core of one latch node, as a pure state machine (docs/raft.md).
 *
 * One leader and one term per cluster; P partition logs (dataplane/plog.h)
 * and one meta log (membership), all replicated by the same AppendEntries
 * step under the shared term. The caller (the shell in latch-control and
 * latchd, or the simulator) feeds events: raft_tick(), raft_recv(),
 * raft_propose(), raft_transfer(), raft_add_learner(); each carries `now`
 * in milliseconds. The core answers through callbacks (send, apply,
 * snapshot save/load, takeover) and through struct raft_effects, which says
 * what must be made durable before any message from that step leaves:
 * the shell queues what send() hands it, writes the effects (term and
 * vote, the meta log, the caught-up incarnation), fsyncs, then transmits.
 *
 * Pure: no clock read, no system call, no global; randomness from a PRNG
 * seeded by the caller; memory allocated in raft_create() only.
 * Thread safety: none; one owner.
 */
#ifndef LATCH_RAFT_H
#define LATCH_RAFT_H

#include <stdbool.h>
#include <stdint.h>

#include "control/raft/raft_msg.h"
#include "dataplane/plog.h"

/* Meta log entry ops (above every lock_entry_op). */
#define RAFT_META_CONFIG 0x81 /* client_id: voters mask, request_id: learners */

enum raft_role {
	RAFT_FOLLOWER = 1,
	RAFT_PRECANDIDATE = 2,
	RAFT_CANDIDATE = 3,
	RAFT_LEADER = 4,
};

struct raft_config {
	uint8_t id;              /* this node, < RAFT_NODES_MAX */
	uint8_t voters_initial;  /* bootstrap configuration (mask) */
	uint16_t partitions;     /* partition logs, <= LATCH_PARTITIONS_MAX */
	uint32_t election_ms;    /* minimum election timeout */
	uint32_t heartbeat_ms;   /* leader's heartbeat and resend period */
	struct plog_config plog; /* each partition log */
	struct plog_config meta; /* the meta log */
	uint64_t seed;           /* PRNG seed for election timeouts */
};

/* Callbacks. log is a partition (0..partitions-1); the meta log is internal. */
struct raft_ops {
	void (*send)(void *ctx, const struct raft_msg *m);
	void (*apply)(void *ctx, uint16_t log, uint64_t index,
		      const struct lock_entry *e);
	uint32_t (*save)(void *ctx, uint16_t log, uint8_t *buf, uint32_t max);
	void (*load)(void *ctx, uint16_t log, const uint8_t *buf, uint32_t len);
	/* Leader has applied every entry of earlier terms in @log. */
	void (*takeover)(void *ctx, uint16_t log, uint64_t now_ms);
};

/* What one step asks the shell to persist before its messages leave. */
struct raft_effects {
	bool persist_term_vote;
	bool persist_caught_up;
	uint64_t persist_meta_from; /* 0: nothing; else first changed index */
	bool role_changed;
	uint64_t timer_ms; /* call raft_tick() at or before this time */
};

/* Leader's view of a peer node (beside each log's plog_progress). */
struct raft_peer {
	uint64_t contact_ms;  /* last reply in this term (check-quorum) */
	uint64_t incarnation; /* highest dataplane incarnation seen */
	bool amnesic;         /* as its last reply said */
	bool caught_up_sent;
};

struct raft;

/* Per-log callback context (plog -> raft). */
struct raft_log_ctx {
	struct raft *r;
	uint16_t log;
};

struct raft {
	struct raft_config cfg;
	struct raft_ops ops;
	void *ctx;

	/* Persistent: the control plane's disk. */
	uint64_t term;
	uint8_t voted_for;
	uint64_t caught_up_incarnation;

	/* The dataplane's incarnation: bumped by every dataplane restart. */
	uint64_t incarnation;

	/* Volatile. */
	uint8_t role; /* enum raft_role */
	uint8_t leader;
	uint8_t voters;
	uint8_t learners;
	uint8_t snap_voters; /* configuration in the meta snapshot */
	uint8_t snap_learners;
	uint8_t prevotes;
	uint8_t votes;
	uint8_t transfer_to; /* leader: RAFT_NONE or the target */
	bool transfer_sent;
	bool transfer_campaign;
	uint16_t logs; /* partitions + 1; the meta log is logs - 1 */
	uint64_t now;
	uint64_t rng;
	uint64_t config_index; /* meta index of the configuration in force */
	uint64_t election_deadline;
	uint64_t heartbeat_due;
	uint64_t quorum_due;
	uint64_t transfer_deadline;
	uint64_t leader_contact_ms;
	struct raft_effects *fx;
	struct raft_peer peers[RAFT_NODES_MAX];
	bool taken_over[RAFT_LOGS_MAX];
	struct raft_log_ctx lctx[RAFT_LOGS_MAX];
	struct plog *log[RAFT_LOGS_MAX];
	struct raft_msg scratch; /* one outgoing message being built */
};

/* Start-up: a node that has never run (term 0). NULL and errno. */
struct raft *raft_create(const struct raft_config *cfg,
			 const struct raft_ops *ops, void *ctx,
			 uint64_t incarnation, bool bootstrap);
void raft_destroy(struct raft *r);

/*
 * Restart after a crash. The persistent fields and the meta log are what
 * the disk kept; @amnesic says the dataplane restarted too, with
 * @incarnation, so every partition log is gone.
 */
void raft_restart(struct raft *r, uint64_t now, uint64_t incarnation,
		  bool amnesic, struct raft_effects *fx);

void raft_tick(struct raft *r, uint64_t now, struct raft_effects *fx);
void raft_recv(struct raft *r, const struct raft_msg *m, uint64_t now,
	       struct raft_effects *fx);
/* Leader: append @e to partition @log. Index, or -ENOTCONN (not leader),
 * -EBUSY (transfer under way), -ENOSPC (ring full). */
int64_t raft_propose(struct raft *r, uint16_t log, const struct lock_entry *e,
		     uint64_t now, struct raft_effects *fx);
/* Leader: hand leadership to @target (dissertation §3.10). */
int raft_transfer(struct raft *r, uint8_t target, uint64_t now,
		  struct raft_effects *fx);
/* Leader: add @node as a learner (dissertation §4.2.1). -EBUSY if a
 * configuration change is not committed yet. */
int raft_add_learner(struct raft *r, uint8_t node, uint64_t now,
		     struct raft_effects *fx);

static inline bool
raft_is_amnesic(const struct raft *r)
{
	return r->caught_up_incarnation != r->incarnation;
}

static inline uint16_t
raft_meta(const struct raft *r)
{
	return (uint16_t)(r->logs - 1);
}

/* Internal, shared by the files of control/raft/. */
void raft_convert(struct raft *r, enum raft_role to);
uint64_t raft_rand(struct raft *r);
void raft_election_timer_reset(struct raft *r);
void raft_election_tick(struct raft *r);
void raft_election_start(struct raft *r, bool pre);
void raft_election_recv(struct raft *r, const struct raft_msg *m);
bool raft_log_is_up_to_date(const struct raft *r, const struct raft_pos *pos);
void raft_send(struct raft *r, uint8_t to, struct raft_msg *m);
void raft_replication_tick(struct raft *r);
bool raft_replication_start(struct raft *r);
void raft_replication_refuse(struct raft *r, const struct raft_msg *m);
void raft_replication_recv(struct raft *r, const struct raft_msg *m);
void raft_replication_flush(struct raft *r, uint16_t log, uint8_t peer);
bool raft_peer_is_caught_up(const struct raft *r, uint8_t peer);
void raft_membership_update(struct raft *r);
bool raft_membership_is_voter(const struct raft *r, uint8_t node);
unsigned raft_membership_majority(const struct raft *r);
uint32_t raft_membership_save(struct raft *r, uint8_t *buf, uint32_t max);
void raft_membership_load(struct raft *r, const uint8_t *buf, uint32_t len);
int raft_membership_change(struct raft *r, uint8_t voters, uint8_t learners);
void raft_membership_promote(struct raft *r);

#endif /* LATCH_RAFT_H */
