/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control half of Raft for one latch node, as a pure state machine
 * (docs/raft.md, "the split"). It runs in latch-control and owns:
 * elections (pre-vote, vote, check-quorum, leader transfer: paper §5.2,
 * dissertation §9.6, §3.10), term and vote, the meta log (membership,
 * learners: dissertation §4), the caught-up verdict of the diskless rule,
 * and the orchestration of pulls. The partition logs live in the
 * dataplane (dataplane/prepl.h), which this half steers through a VIEW
 * on the local channel (control/raft/raft_chan.h) and hears from through
 * REPORTs. Control planes talk to each other with raft_msg (raft_msg.h):
 * PREVOTE, VOTE, TIMEOUT_NOW, and APPEND/SNAPSHOT/PULL of the meta log,
 * whose APPENDs are the heartbeats that check-quorum and leader liveness
 * use: no per-packet information from the dataplane is needed.
 *
 * Entry points (the shell in latch-control calls only these):
 *   raft_ctl_create()      start-up; raft_ctl_destroy()
 *   raft_ctl_restart()     after the control process restarted
 *   raft_ctl_tick()        time passed (at or before fx->timer_ms)
 *   raft_ctl_recv()        a raft_msg from a peer control plane
 *   raft_ctl_report()      a REPORT from the local dataplane
 *   raft_ctl_transfer()    operator: hand leadership to a node
 *   raft_ctl_add_learner() operator: add a node as a learner
 *   raft_ctl_remove_member() operator: remove a learner or a voter
 * Output: ops->send() (to a peer control plane), ops->chan() (to the
 * local dataplane), and struct raft_effects.
 *
 * Ordering the shell must honour (docs/raft.md): after a step returns,
 * (1) write and fsync what raft_effects names (term and vote, the meta
 * log from an index, the caught-up incarnation), (2) hand the queued
 * chan() messages to the dataplane, (3) transmit the queued send()
 * messages. A VOTE, and a granted VOTE_REPLY, are only ever produced in a
 * step that holds a fresh report of every partition, i.e. after the
 * dataplane applied a view of the current term (raft_chan.h, freshness),
 * so the dataplane has moved to the term before any vote leaves even if
 * the channel is slow.
 *
 * Persistent fields (term, voted_for, caught_up_incarnation, the meta
 * log) are the shell's to restore before raft_ctl_restart().
 *
 * Pure: no clock read, no system call, no global; randomness from a PRNG
 * seeded by the caller; memory allocated in raft_ctl_create() only.
 * Thread safety: none; one owner.
 */
#ifndef LATCH_RAFT_H
#define LATCH_RAFT_H

#include <stdbool.h>
#include <stdint.h>

#include "control/raft/raft_chan.h"
#include "control/raft/raft_msg.h"
#include "dataplane/plog.h"

/*
 * Campaign rounds on the quick path once the leader's process is reported
 * gone (raft_election_quick): enough for a pull of crossed logs and a
 * split vote or two (each round is a few heartbeats), few enough that a
 * wrong report costs a handful of pre-votes, never a storm.
 */
#define RAFT_QUICK_ROUNDS 8

/* Meta log entry ops (above every lock_entry_op). */
#define RAFT_META_CONFIG 0x81 /* client_id: voters mask, request_id: learners */

enum raft_role {
	RAFT_FOLLOWER = 1,
	RAFT_PRECANDIDATE = 2,
	RAFT_CANDIDATE = 3,
	RAFT_LEADER = 4,
};

struct raft_ctl_config {
	uint8_t id;             /* this node, < RAFT_NODES_MAX */
	uint8_t voters_initial; /* bootstrap configuration (mask) */
	uint16_t partitions;    /* partition logs, <= LATCH_PARTITIONS_MAX */
	uint32_t election_ms;   /* minimum election timeout */
	uint32_t heartbeat_ms;  /* meta heartbeat and view resend period */
	/* Beacon period: how late a dead peer's refusal may come, the unit
	 * of the quick path's random delays (raft_election_quick); 0 means
	 * heartbeat_ms. */
	uint32_t beacon_ms;
	struct plog_config meta; /* the meta log */
	uint64_t seed;           /* PRNG seed for election timeouts */
};

struct raft_ctl_ops {
	void (*send)(void *ctx, const struct raft_msg *m);
	void (*chan)(void *ctx, const struct raft_chan_down *d);
};

/* What one step asks the shell to persist before its messages leave. */
struct raft_effects {
	bool persist_term_vote;
	bool persist_caught_up;
	uint64_t persist_meta_from; /* 0: nothing; else first changed index */
	bool role_changed;
	uint64_t timer_ms; /* call raft_ctl_tick() at or before this time */
};

/* Leader's view of a peer's control plane, from meta APPEND_REPLYs. */
struct raft_peer {
	uint64_t contact_ms;  /* last reply in this term (check-quorum) */
	uint64_t incarnation; /* its dataplane's, as its control plane said */
	bool amnesic;         /* as its last reply said */
};

/* A PREVOTE or VOTE waiting for fresh reports of every partition. */
struct raft_vote_req {
	bool valid;
	/* A PREVOTE refused only because its leader was still heard: asked
	 * again if that leader is reported gone soon after (the quick path,
	 * raft_election_leader_gone). */
	bool sticky;
	uint8_t type; /* RAFT_MSG_PREVOTE or RAFT_MSG_VOTE */
	uint64_t term;
	uint64_t at_ms;
	struct raft_pos pos[RAFT_LOGS_MAX];
};

struct raft_ctl {
	struct raft_ctl_config cfg;
	struct raft_ctl_ops ops;
	void *ctx;

	/* Persistent: the control plane's disk. */
	uint64_t term;
	uint8_t voted_for;
	uint64_t caught_up_incarnation;
	struct plog *meta;

	/* This control plane's start count (views' freshness). */
	uint64_t ctl_incarnation;

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
	bool votes_sent; /* candidate: its VOTEs left */
	uint16_t logs;   /* partitions + 1; the meta log is logs - 1 */
	uint64_t now;
	uint64_t rng;
	uint64_t config_index;   /* meta index of the configuration in force */
	uint64_t config_seq;     /* first view that carried it (chan.c) */
	uint64_t leave_deadline; /* leader removed from the configuration:
				  * step down by then (0: not leaving) */
	uint64_t election_deadline;
	uint64_t heartbeat_due;
	uint64_t quorum_due;
	uint64_t transfer_deadline;
	uint64_t leader_contact_ms;
	/* Campaign rounds left on the quick path (raft_ctl_peer_gone): a
	 * refused pre-vote or vote is asked again within a few heartbeats,
	 * not an election timeout later. 0 outside such a campaign. */
	uint8_t quick_rounds;
	struct raft_effects *fx;
	struct raft_peer peers[RAFT_NODES_MAX];

	/* The local dataplane, as its reports say. */
	uint64_t dp_incarnation; /* 0: not heard from since start */
	uint64_t dp_contact_ms;
	uint64_t view_seq;  /* last view sent */
	uint64_t fresh_seq; /* first view with the present content */
	/* First view with the present content but for a leader forgotten
	 * (raft_reports_are_current): what a pre-vote must see reported. */
	uint64_t prevote_seq;
	uint64_t view_due;
	struct raft_chan_view view; /* last view sent */
	struct raft_chan_report rep[LATCH_PARTITIONS_MAX];
	struct raft_vote_req pending[RAFT_NODES_MAX];

	struct raft_msg scratch; /* one outgoing message being built */
	struct raft_chan_down down;
};

/*
 * Start-up of a node that has never run (term 0). @caught_up_incarnation:
 * the incarnation of the first dataplane for a node of the bootstrap
 * configuration (its logs, empty, are complete); 0 for a node that joins
 * later as a learner. NULL and errno.
 */
struct raft_ctl *raft_ctl_create(const struct raft_ctl_config *cfg,
				 const struct raft_ctl_ops *ops, void *ctx,
				 uint64_t caught_up_incarnation);
void raft_ctl_destroy(struct raft_ctl *r);

/*
 * The control process restarted: persistent fields and the meta log are
 * what the disk kept, the rest is reset. @ctl_incarnation must exceed the
 * previous one (the shell persists a start counter). The dataplane is
 * unknown until it reports.
 */
void raft_ctl_restart(struct raft_ctl *r, uint64_t now,
		      uint64_t ctl_incarnation, struct raft_effects *fx);

void raft_ctl_tick(struct raft_ctl *r, uint64_t now, struct raft_effects *fx);
void raft_ctl_recv(struct raft_ctl *r, const struct raft_msg *m, uint64_t now,
		   struct raft_effects *fx);
void raft_ctl_report(struct raft_ctl *r, const struct raft_chan_report *rep,
		     uint64_t now, struct raft_effects *fx);
/*
 * Peer @node's host refused a message (ICMP port unreachable): its control
 * plane is not running. A follower of @node forgets it and campaigns at
 * once (pre-vote first), instead of an election timeout later. Only a
 * hint: a wrong one costs a pre-vote round, never a term or safety.
 */
void raft_ctl_peer_gone(struct raft_ctl *r, uint8_t node, uint64_t now,
			struct raft_effects *fx);
/* Leader: hand leadership to @target (dissertation §3.10). 0, -ENOTCONN,
 * -EINVAL, -EBUSY. */
int raft_ctl_transfer(struct raft_ctl *r, uint8_t target, uint64_t now,
		      struct raft_effects *fx);
/* Leader: add @node as a learner (dissertation §4.2.1). -EBUSY if a
 * configuration change is not committed yet. */
int raft_ctl_add_learner(struct raft_ctl *r, uint8_t node, uint64_t now,
			 struct raft_effects *fx);
/*
 * Leader: remove @node, a learner or a voter, itself included
 * (dissertation §4.2.2, docs/raft.md "Membership"). The new configuration
 * is in force as soon as it is appended. A leader that removed itself
 * leads on, counting only the new configuration, until that entry
 * commits; then it hands leadership to the most up-to-date voter and
 * steps down. 0, -ENOTCONN (not the leader), -EINVAL (not a member, or
 * the last voter), -EBUSY (a configuration change or a leader transfer
 * is not finished yet: retry).
 */
int raft_ctl_remove_member(struct raft_ctl *r, uint8_t node, uint64_t now,
			   struct raft_effects *fx);

/* The beacon period (raft_ctl_config.beacon_ms, 0: the heartbeat's). */
static inline uint32_t
raft_beacon_ms(const struct raft_ctl *r)
{
	return r->cfg.beacon_ms != 0 ? r->cfg.beacon_ms : r->cfg.heartbeat_ms;
}

/* Amnesic: the dataplane is unknown or not the caught-up incarnation. */
static inline bool
raft_is_amnesic(const struct raft_ctl *r)
{
	return r->dp_incarnation == 0 ||
	       r->caught_up_incarnation != r->dp_incarnation;
}

static inline uint16_t
raft_meta(const struct raft_ctl *r)
{
	return (uint16_t)(r->logs - 1);
}

/* Internal, shared by the files of control/raft/. */
void raft_convert(struct raft_ctl *r, enum raft_role to);
uint64_t raft_rand(struct raft_ctl *r);
void raft_election_timer_reset(struct raft_ctl *r);
void raft_election_tick(struct raft_ctl *r);
void raft_election_start(struct raft_ctl *r, bool pre);
void raft_election_quick(struct raft_ctl *r, uint64_t after_ms, bool jitter);
void raft_election_recv(struct raft_ctl *r, const struct raft_msg *m);
void raft_election_reports(struct raft_ctl *r);
void raft_election_leader_gone(struct raft_ctl *r);
bool raft_reports_are_fresh(const struct raft_ctl *r);
void raft_send(struct raft_ctl *r, uint8_t to, struct raft_msg *m);
void raft_replication_tick(struct raft_ctl *r);
bool raft_replication_start(struct raft_ctl *r);
void raft_replication_refuse(struct raft_ctl *r, const struct raft_msg *m);
void raft_replication_recv(struct raft_ctl *r, const struct raft_msg *m);
bool raft_peer_is_caught_up(const struct raft_ctl *r, uint8_t peer);
bool raft_report_is_leading(const struct raft_ctl *r,
			    const struct raft_chan_report *rep);
uint8_t raft_counted(const struct raft_ctl *r);
void raft_chan_sync(struct raft_ctl *r);
void raft_chan_pull(struct raft_ctl *r, uint16_t partition, uint8_t from);
void raft_membership_update(struct raft_ctl *r);
bool raft_membership_is_voter(const struct raft_ctl *r, uint8_t node);
unsigned raft_membership_majority(const struct raft_ctl *r);
uint32_t raft_membership_save(struct raft_ctl *r, uint8_t *buf, uint32_t max);
void raft_membership_load(struct raft_ctl *r, const uint8_t *buf, uint32_t len);
int raft_membership_change(struct raft_ctl *r, uint8_t voters,
			   uint8_t learners);
void raft_membership_promote(struct raft_ctl *r);
bool raft_membership_is_settled(const struct raft_ctl *r);
void raft_membership_leave(struct raft_ctl *r);

#endif /* LATCH_RAFT_H */
