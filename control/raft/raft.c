/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node: creation, restart, and the entry points that feed events to
 * the election, replication and membership parts (control/raft/raft.h).
 * raft_recv() applies the term rules common to every message (paper
 * Figure 2, "all servers": a higher term makes a follower; a stale one is
 * refused) before dispatching.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

/* plog -> apply layer. No-ops and meta entries stay inside the core. */
static void
raft_apply_cb(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct raft_log_ctx *lc = ctx;
	struct raft *r = lc->r;

	if (lc->log == raft_meta(r) || e->op == PLOG_OP_NOOP)
		return;
	r->ops.apply(r->ctx, lc->log, index, e);
}

static uint32_t
raft_save_cb(void *ctx, uint8_t *buf, uint32_t max)
{
	struct raft_log_ctx *lc = ctx;

	if (lc->log == raft_meta(lc->r))
		return raft_membership_save(lc->r, buf, max);
	return lc->r->ops.save(lc->r->ctx, lc->log, buf, max);
}

static void
raft_load_cb(void *ctx, const uint8_t *buf, uint32_t len)
{
	struct raft_log_ctx *lc = ctx;

	if (lc->log == raft_meta(lc->r))
		raft_membership_load(lc->r, buf, len);
	else
		lc->r->ops.load(lc->r->ctx, lc->log, buf, len);
}

static const struct plog_ops raft_plog_ops = {
	.apply = raft_apply_cb,
	.save = raft_save_cb,
	.load = raft_load_cb,
};

/*
 * Start-up: allocate the node and its logs. @bootstrap: this node is in
 * the initial configuration with its logs (empty) complete, so it is not
 * amnesic; a node created to join later starts amnesic and becomes a
 * voter only through the learner path.
 */
struct raft *
raft_create(const struct raft_config *cfg, const struct raft_ops *ops,
	    void *ctx, uint64_t incarnation, bool bootstrap)
{
	struct raft *r;
	uint16_t l;

	if (cfg->id >= RAFT_NODES_MAX || cfg->partitions == 0 ||
	    cfg->partitions > LATCH_PARTITIONS_MAX || cfg->election_ms == 0 ||
	    cfg->heartbeat_ms == 0 || cfg->heartbeat_ms >= cfg->election_ms ||
	    incarnation == 0 || plog_config_check(&cfg->plog) != 0 ||
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
	for (l = 0; l < r->logs; l++) {
		r->lctx[l].r = r;
		r->lctx[l].log = l;
		r->log[l] =
			plog_create(l == raft_meta(r) ? &cfg->meta : &cfg->plog,
				    &raft_plog_ops, &r->lctx[l]);
		if (r->log[l] == NULL)
			goto destroy_logs;
	}
	r->term = 0;
	r->voted_for = RAFT_NONE;
	r->incarnation = incarnation;
	r->caught_up_incarnation = bootstrap ? incarnation : 0;
	r->rng = cfg->seed;
	r->role = RAFT_FOLLOWER; /* initial role, not a transition */
	r->leader = RAFT_NONE;
	r->transfer_to = RAFT_NONE;
	r->snap_voters = cfg->voters_initial;
	r->snap_learners = 0;
	raft_membership_update(r);
	raft_election_timer_reset(r);
	return r;

destroy_logs:
	while (l-- > 0)
		plog_destroy(r->log[l]);
	free(r);
	errno = ENOMEM;
	return NULL;
}

void
raft_destroy(struct raft *r)
{
	uint16_t l;

	if (r == NULL)
		return;
	for (l = 0; l < r->logs; l++)
		plog_destroy(r->log[l]);
	free(r);
}

/*
 * Restart: volatile state is gone; term, vote, the caught-up incarnation
 * and the meta log are what the control plane's disk kept. If the
 * dataplane restarted too (@amnesic), its partition logs are empty and
 * its incarnation new, so the node is amnesic until a leader catches it
 * up (docs/raft.md, "the diskless rule").
 */
void
raft_restart(struct raft *r, uint64_t now, uint64_t incarnation, bool amnesic,
	     struct raft_effects *fx)
{
	uint16_t l;

	r->now = now;
	r->fx = fx;
	if (amnesic) {
		LATCH_ASSERT(incarnation > r->incarnation);
		r->incarnation = incarnation;
		for (l = 0; l < raft_meta(r); l++)
			plog_reset(r->log[l]);
	}
	/* Re-initialisation after a crash, not a transition. */
	r->role = RAFT_FOLLOWER;
	r->leader = RAFT_NONE;
	r->prevotes = 0;
	r->votes = 0;
	r->transfer_to = RAFT_NONE;
	r->transfer_sent = false;
	r->transfer_campaign = false;
	memset(r->peers, 0, sizeof(r->peers));
	memset(r->taken_over, 0, sizeof(r->taken_over));
	raft_membership_update(r);
	raft_election_timer_reset(r);
	r->fx = NULL;
}

/* Hand a message to the shell. */
void
raft_send(struct raft *r, uint8_t to, struct raft_msg *m)
{
	m->from = r->cfg.id;
	m->to = to;
	r->ops.send(r->ctx, m);
}

static void
raft_fx_begin(struct raft *r, uint64_t now, struct raft_effects *fx)
{
	LATCH_ASSERT(now >= r->now);
	r->now = now;
	r->fx = fx;
}

static void
raft_fx_end(struct raft *r)
{
	uint64_t t = r->election_deadline;

	if (r->role == RAFT_LEADER)
		t = r->heartbeat_due < r->quorum_due ? r->heartbeat_due
						     : r->quorum_due;
	r->fx->timer_ms = t;
	r->fx = NULL;
}

/* Timers: elections, check-quorum, heartbeats, resends. */
void
raft_tick(struct raft *r, uint64_t now, struct raft_effects *fx)
{
	raft_fx_begin(r, now, fx);
	raft_election_tick(r);
	if (r->role == RAFT_LEADER)
		raft_replication_tick(r);
	raft_fx_end(r);
}

/* A higher term was seen: adopt it as a follower (Figure 2). */
static void
raft_step_down(struct raft *r, uint64_t term)
{
	LATCH_ASSERT(term > r->term);
	r->term = term;
	r->voted_for = RAFT_NONE;
	r->fx->persist_term_vote = true;
	raft_convert(r, RAFT_FOLLOWER);
}

static bool
raft_msg_is_valid(const struct raft *r, const struct raft_msg *m)
{
	if (m->to != r->cfg.id || m->from >= RAFT_NODES_MAX ||
	    m->from == r->cfg.id || m->type == 0 ||
	    m->type >= RAFT_MSG_TYPE_MAX)
		return false;
	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_PULL_REPLY:
		return m->log < r->logs && m->u.append.n <= RAFT_BATCH_MAX;
	case RAFT_MSG_APPEND_REPLY:
	case RAFT_MSG_SNAPSHOT:
	case RAFT_MSG_PULL:
		return m->log < r->logs;
	default:
		return true;
	}
}

/*
 * A message arrived. PREVOTE and PULL carry no term obligation. A VOTE
 * for a higher term is ignored while a leader is known alive, unless it
 * comes from a leader transfer (dissertation §4.2.3). Otherwise a higher
 * term makes this node a follower in it, and a stale APPEND or SNAPSHOT
 * is refused with our term so its sender steps down.
 */
void
raft_recv(struct raft *r, const struct raft_msg *m, uint64_t now,
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
 * Leader: propose an entry to partition @log (§5.3). It is sent with the
 * next tick (batching) and applied once committed. Refused during a
 * leader transfer (§3.10: the old leader stops accepting requests).
 */
int64_t
raft_propose(struct raft *r, uint16_t log, const struct lock_entry *e,
	     uint64_t now, struct raft_effects *fx)
{
	struct lock_entry copy = *e;
	int64_t idx;

	if (r->role != RAFT_LEADER)
		return -ENOTCONN;
	if (r->transfer_to != RAFT_NONE)
		return -EBUSY;
	if (log >= raft_meta(r) || e->op == PLOG_OP_NOOP ||
	    e->op >= RAFT_META_CONFIG)
		return -EINVAL;
	raft_fx_begin(r, now, fx);
	copy.term = r->term;
	idx = plog_append(r->log[log], &copy);
	raft_fx_end(r);
	return idx;
}

/* Leader: start a leader transfer to @target (dissertation §3.10). */
int
raft_transfer(struct raft *r, uint8_t target, uint64_t now,
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
raft_add_learner(struct raft *r, uint8_t node, uint64_t now,
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
		uint16_t l;

		for (l = 0; l < r->logs; l++)
			plog_leader_reset_peer(r->log[l], node);
		r->peers[node].amnesic = true;
		r->peers[node].incarnation = 0;
		r->peers[node].contact_ms = now;
	}
	raft_fx_end(r);
	return rc;
}
