/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control half: creation, restart, and the entry points that feed
 * events to the election, replication (meta log), membership and channel
 * parts (control/raft/raft.h). raft_ctl_recv() and raft_ctl_report()
 * apply the term rules common to every message (paper Figure 2, "all
 * servers": a higher term makes a follower; a stale one is refused)
 * before dispatching.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

/* plog -> meta state machine: the configuration is read from the log
 * itself (membership.c), so applying a meta entry does nothing more. */
static void
raft_apply_cb(void *ctx, uint64_t index, const struct lock_entry *e)
{
	(void)ctx;
	(void)index;
	(void)e;
}

static uint32_t
raft_save_cb(void *ctx, uint8_t *buf, uint32_t max)
{
	return raft_membership_save(ctx, buf, max);
}

static void
raft_load_cb(void *ctx, const uint8_t *buf, uint32_t len)
{
	raft_membership_load(ctx, buf, len);
}

static const struct plog_ops raft_plog_ops = {
	.apply = raft_apply_cb,
	.save = raft_save_cb,
	.load = raft_load_cb,
};

/* Volatile state as after a start: follower, nothing known. */
static void
raft_volatile_reset(struct raft_ctl *r)
{
	r->role = RAFT_FOLLOWER; /* initial role, not a transition */
	r->leader = RAFT_NONE;
	r->prevotes = 0;
	r->votes = 0;
	r->transfer_to = RAFT_NONE;
	r->transfer_sent = false;
	r->transfer_campaign = false;
	r->votes_sent = false;
	r->leave_deadline = 0;
	r->config_seq = 0;
	memset(r->peers, 0, sizeof(r->peers));
	r->dp_incarnation = 0;
	r->dp_contact_ms = r->now;
	r->view_seq = 0;
	r->fresh_seq = 0;
	r->prevote_seq = 0;
	r->view_due = r->now;
	memset(&r->view, 0, sizeof(r->view));
	memset(r->rep, 0, sizeof(r->rep));
	memset(r->pending, 0, sizeof(r->pending));
	raft_membership_update(r);
	raft_election_timer_reset(r);
}

struct raft_ctl *
raft_ctl_create(const struct raft_ctl_config *cfg,
		const struct raft_ctl_ops *ops, void *ctx,
		uint64_t caught_up_incarnation)
{
	struct raft_ctl *r;

	if (cfg->id >= RAFT_NODES_MAX || cfg->partitions == 0 ||
	    cfg->partitions > LATCH_PARTITIONS_MAX || cfg->election_ms == 0 ||
	    cfg->heartbeat_ms == 0 || cfg->heartbeat_ms >= cfg->election_ms ||
	    plog_config_check(&cfg->meta) != 0) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->cfg = *cfg;
	r->ops = *ops;
	r->ctx = ctx;
	r->logs = (uint16_t)(cfg->partitions + 1);
	r->meta = plog_create(&cfg->meta, &raft_plog_ops, r);
	if (r->meta == NULL)
		goto free_r;
	r->term = 0;
	r->voted_for = RAFT_NONE;
	r->caught_up_incarnation = caught_up_incarnation;
	r->ctl_incarnation = 1;
	r->rng = cfg->seed;
	r->snap_voters = cfg->voters_initial;
	r->snap_learners = 0;
	raft_volatile_reset(r);
	return r;

free_r:
	free(r);
	errno = ENOMEM;
	return NULL;
}

void
raft_ctl_destroy(struct raft_ctl *r)
{
	if (r == NULL)
		return;
	plog_destroy(r->meta);
	free(r);
}

/*
 * Restart of the control process: volatile state is gone; term, vote,
 * the caught-up incarnation and the meta log are what the disk kept. The
 * dataplane may have run on meanwhile; it is heard from again through
 * its next report, and obeys views of the new ctl_incarnation only.
 */
void
raft_ctl_restart(struct raft_ctl *r, uint64_t now, uint64_t ctl_incarnation,
		 struct raft_effects *fx)
{
	LATCH_ASSERT(ctl_incarnation > r->ctl_incarnation);
	r->now = now;
	r->fx = fx;
	r->ctl_incarnation = ctl_incarnation;
	raft_volatile_reset(r);
	r->fx->timer_ms = r->election_deadline;
	r->fx = NULL;
}

/* Hand a message to the shell. */
void
raft_send(struct raft_ctl *r, uint8_t to, struct raft_msg *m)
{
	m->from = r->cfg.id;
	m->to = to;
	r->ops.send(r->ctx, m);
}

static void
raft_fx_begin(struct raft_ctl *r, uint64_t now, struct raft_effects *fx)
{
	LATCH_ASSERT(now >= r->now);
	r->now = now;
	r->fx = fx;
}

/* End of every step: bring the dataplane's view up to date, and say when
 * the next tick is due. */
static void
raft_fx_end(struct raft_ctl *r)
{
	uint64_t t = r->election_deadline;

	raft_chan_sync(r);
	if (r->role == RAFT_LEADER)
		t = r->heartbeat_due < r->quorum_due ? r->heartbeat_due
						     : r->quorum_due;
	if (r->dp_incarnation != 0 && r->view_due < t)
		t = r->view_due;
	r->fx->timer_ms = t;
	r->fx = NULL;
}

/* Timers: elections, check-quorum, meta heartbeats, view resends. */
void
raft_ctl_tick(struct raft_ctl *r, uint64_t now, struct raft_effects *fx)
{
	raft_fx_begin(r, now, fx);
	raft_election_tick(r);
	if (r->role == RAFT_LEADER)
		raft_replication_tick(r);
	raft_fx_end(r);
}

/* A higher term was seen: adopt it as a follower (Figure 2). */
static void
raft_step_down(struct raft_ctl *r, uint64_t term)
{
	LATCH_ASSERT(term > r->term);
	r->term = term;
	r->voted_for = RAFT_NONE;
	r->fx->persist_term_vote = true;
	raft_convert(r, RAFT_FOLLOWER);
}

static bool
raft_msg_is_valid(const struct raft_ctl *r, const struct raft_msg *m)
{
	if (m->to != r->cfg.id || m->from >= RAFT_NODES_MAX ||
	    m->from == r->cfg.id || m->type == 0 ||
	    m->type >= RAFT_MSG_TYPE_MAX)
		return false;
	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_PULL_REPLY:
		return m->log == raft_meta(r) &&
		       m->u.append.n <= r->meta->cfg.batch_max;
	case RAFT_MSG_SNAPSHOT:
		return m->log == raft_meta(r) &&
		       m->u.snapshot.len <= r->meta->cfg.snapshot_max;
	case RAFT_MSG_APPEND_REPLY:
	case RAFT_MSG_PULL:
		return m->log == raft_meta(r);
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		return m->u.vote.logs == r->logs;
	case RAFT_MSG_PREVOTE_REPLY:
	case RAFT_MSG_VOTE_REPLY:
		return m->u.vote_reply.logs == r->logs;
	default:
		return true;
	}
}

/*
 * A message from a peer control plane. PREVOTE and PULL carry no term
 * obligation. A VOTE for a higher term is ignored while a leader is known
 * alive, unless it comes from a leader transfer (dissertation §4.2.3).
 * Otherwise a higher term makes this node a follower in it, and a stale
 * APPEND or SNAPSHOT is refused with our term so its sender steps down.
 */
void
raft_ctl_recv(struct raft_ctl *r, const struct raft_msg *m, uint64_t now,
	      struct raft_effects *fx)
{
	if (!raft_msg_is_valid(r, m))
		return;
	raft_fx_begin(r, now, fx);
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_PULL:
	case RAFT_MSG_PULL_REPLY:
		raft_election_recv(r, m);
		break;
	case RAFT_MSG_PREVOTE_REPLY:
		if (!m->u.vote_reply.granted && m->term > r->term)
			raft_step_down(r, m->term);
		raft_election_recv(r, m);
		break;
	case RAFT_MSG_VOTE:
		if (m->term > r->term) {
			bool sticky = r->role == RAFT_LEADER ||
				      (r->leader != RAFT_NONE &&
				       now < r->leader_contact_ms +
						       r->cfg.election_ms);

			if (sticky && !m->u.vote.transfer)
				break;
			raft_step_down(r, m->term);
		}
		raft_election_recv(r, m);
		break;
	default:
		if (m->term > r->term)
			raft_step_down(r, m->term);
		if (m->term < r->term) {
			if (m->type == RAFT_MSG_APPEND ||
			    m->type == RAFT_MSG_SNAPSHOT)
				raft_replication_refuse(r, m);
			break;
		}
		if (m->type == RAFT_MSG_VOTE_REPLY ||
		    m->type == RAFT_MSG_TIMEOUT_NOW)
			raft_election_recv(r, m);
		else
			raft_replication_recv(r, m);
		break;
	}
	raft_fx_end(r);
}

/*
 * The followed leader's process is gone (raft.h). Forgetting it ends this
 * node's stickiness (it grants pre-votes and votes again), and the node
 * campaigns within a heartbeat (raft_election_quick) if it may: a voter
 * with fresh reports and no amnesia. The other followers learn the same
 * from their own beacons to the dead leader, within a heartbeat; until
 * then they refuse this node's pre-vote, which is asked again shortly.
 */
/*
 * The first campaign after leader @gone died: each surviving voter waits
 * a beacon period and a ms per surviving voter of lower id. Followers
 * that learn of the death within the same beacon otherwise often
 * campaigned together, granted each other's pre-votes and split the vote
 * (traced: a term and 2-4 ms lost); staggered, the first one's pre-vote
 * is granted when the others learn (raft_election_leader_gone), and they
 * campaign only if it fails. The turns are further apart than the
 * followers' learning of the death can be (a beacon period), so the
 * lowest rank stands at once, with no random part: that part cost the
 * lab's failovers 0 to 2 ms (1 on average) on the critical path.
 */
static uint64_t
raft_quick_stagger(const struct raft_ctl *r, uint8_t gone)
{
	uint64_t rank = 0;
	uint8_t i;

	for (i = 0; i < r->cfg.id; i++)
		if (i != gone && (r->voters & (1u << i)))
			rank++;
	return rank * (raft_beacon_ms(r) + 1);
}

void
raft_ctl_peer_gone(struct raft_ctl *r, uint8_t node, uint64_t now,
		   struct raft_effects *fx)
{
	raft_fx_begin(r, now, fx);
	if (r->role == RAFT_FOLLOWER && r->leader == node &&
	    node != r->cfg.id) {
		r->leader = RAFT_NONE;
		r->quick_rounds = RAFT_QUICK_ROUNDS;
		raft_election_leader_gone(r);
		raft_election_quick(r, raft_quick_stagger(r, node), false);
		raft_election_tick(r);
	}
	raft_fx_end(r);
}

/*
 * A REPORT from the local dataplane (raft_chan.h). A new incarnation
 * means the dataplane restarted and its partition logs are gone: every
 * earlier report is void, and a leader or candidate stops (its logs were
 * the basis of its election). A higher term seen by a worker is adopted
 * here, persisted, and only then told to the dataplane. Fresh reports may
 * settle waiting votes.
 */
void
raft_ctl_report(struct raft_ctl *r, const struct raft_chan_report *rep,
		uint64_t now, struct raft_effects *fx)
{
	if (rep->partition >= r->cfg.partitions || rep->incarnation == 0 ||
	    rep->incarnation < r->dp_incarnation)
		return;
	raft_fx_begin(r, now, fx);
	if (rep->incarnation > r->dp_incarnation) {
		r->dp_incarnation = rep->incarnation;
		memset(r->rep, 0, sizeof(r->rep));
		if (r->role != RAFT_FOLLOWER)
			raft_convert(r, RAFT_FOLLOWER);
	}
	r->rep[rep->partition] = *rep;
	r->dp_contact_ms = now;
	if (rep->seen_term > r->term)
		raft_step_down(r, rep->seen_term);
	if ((rep->flags & RAFT_REPORT_F_LEAD_FAILED) &&
	    r->role == RAFT_LEADER && rep->term == r->term &&
	    rep->ctl_incarnation == r->ctl_incarnation)
		raft_convert(r, RAFT_FOLLOWER);
	raft_election_reports(r);
	raft_fx_end(r);
}

/* Leader: start a leader transfer to @target (dissertation §3.10). */
int
raft_ctl_transfer(struct raft_ctl *r, uint8_t target, uint64_t now,
		  struct raft_effects *fx)
{
	if (r->role != RAFT_LEADER)
		return -ENOTCONN;
	if (target == r->cfg.id || !raft_membership_is_voter(r, target))
		return -EINVAL;
	if (r->transfer_to != RAFT_NONE)
		return -EBUSY;
	raft_fx_begin(r, now, fx);
	r->transfer_to = target;
	r->transfer_sent = false;
	r->transfer_deadline = now + r->cfg.election_ms;
	raft_fx_end(r);
	return 0;
}

/* Leader: add @node as a learner (dissertation §4.2.1). */
int
raft_ctl_add_learner(struct raft_ctl *r, uint8_t node, uint64_t now,
		     struct raft_effects *fx)
{
	int rc;

	if (r->role != RAFT_LEADER)
		return -ENOTCONN;
	if (node >= RAFT_NODES_MAX ||
	    ((r->voters | r->learners) & (1u << node)))
		return -EINVAL;
	raft_fx_begin(r, now, fx);
	rc = raft_membership_change(r, r->voters,
				    (uint8_t)(r->learners | (1u << node)));
	if (rc == 0) {
		plog_leader_reset_peer(r->meta, node);
		r->peers[node].amnesic = true;
		r->peers[node].incarnation = 0;
		r->peers[node].contact_ms = now;
	}
	raft_fx_end(r);
	return rc;
}

/*
 * Leader: remove @node (dissertation §4.2.2; raft.h). Refused during a
 * leader transfer: its target must stay a voter until it campaigns.
 */
int
raft_ctl_remove_member(struct raft_ctl *r, uint8_t node, uint64_t now,
		       struct raft_effects *fx)
{
	uint8_t bit;
	int rc;

	if (r->role != RAFT_LEADER)
		return -ENOTCONN;
	if (node >= RAFT_NODES_MAX)
		return -EINVAL;
	bit = (uint8_t)(1u << node);
	if (!((r->voters | r->learners) & bit) || r->voters == bit)
		return -EINVAL;
	if (r->transfer_to != RAFT_NONE)
		return -EBUSY;
	raft_fx_begin(r, now, fx);
	rc = raft_membership_change(r, (uint8_t)(r->voters & ~bit),
				    (uint8_t)(r->learners & ~bit));
	/* Removing itself: lead on until the entry commits (a single
	 * remaining voter may commit it at once). */
	if (rc == 0)
		raft_membership_leave(r);
	raft_fx_end(r);
	return rc;
}
