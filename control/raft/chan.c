/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control half's side of the local channel (raft_chan.h): the view
 * the dataplane obeys, and pull commands. The view is recomputed at the
 * end of every step and sent when it changed, and every heartbeat period
 * anyway (the channel may lose it; the dataplane ignores duplicates).
 */
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

static void
raft_view_build(const struct raft_ctl *r, struct raft_chan_view *v)
{
	memset(v, 0, sizeof(*v));
	v->ctl_incarnation = r->ctl_incarnation;
	v->dp_incarnation = r->dp_incarnation;
	v->term = r->term;
	v->caught_up_incarnation = r->caught_up_incarnation;
	v->voters = r->voters;
	v->learners = r->learners;
	v->leader = RAFT_NONE;
	v->role = RAFT_VIEW_NONE;
	if (r->role == RAFT_LEADER) {
		v->role = RAFT_VIEW_LEADER;
		v->leader = r->cfg.id;
		v->counted = raft_counted(r);
		if (r->transfer_to != RAFT_NONE)
			v->flags |= RAFT_VIEW_F_TRANSFER;
	} else if (r->role == RAFT_FOLLOWER && r->leader != RAFT_NONE) {
		v->role = RAFT_VIEW_FOLLOWER;
		v->leader = r->leader;
	}
}

/*
 * Does @next differ from @prev only in that a follower forgot its leader?
 * The dataplane's logs are what they were: reports from before this
 * change still show them (raft_reports_are_current).
 */
static bool
raft_view_only_lost_leader(const struct raft_chan_view *prev,
			   const struct raft_chan_view *next)
{
	struct raft_chan_view v = *next;

	if (prev->role != RAFT_VIEW_FOLLOWER || next->role != RAFT_VIEW_NONE)
		return false;
	v.role = prev->role;
	v.leader = prev->leader;
	return memcmp(&v, prev, sizeof(v)) == 0;
}

static void
raft_chan_send_view(struct raft_ctl *r)
{
	struct raft_chan_down *d = &r->down;

	memset(d, 0, sizeof(*d));
	d->type = RAFT_CHAN_VIEW;
	d->partition = RAFT_CHAN_ALL;
	r->view.seq = ++r->view_seq;
	d->u.view = r->view;
	r->view_due = r->now + r->cfg.heartbeat_ms;
	r->ops.chan(r->ctx, d);
}

/*
 * End of a step: a changed view goes out now and starts a new freshness
 * mark (reports from before it no longer settle votes); an unchanged one
 * is repeated every heartbeat. Nothing is sent before the dataplane has
 * reported once (its incarnation is unknown).
 */
void
raft_chan_sync(struct raft_ctl *r)
{
	struct raft_chan_view v;

	if (r->dp_incarnation == 0)
		return;
	raft_view_build(r, &v);
	v.seq = r->view.seq;
	if (memcmp(&v, &r->view, sizeof(v)) != 0) {
		bool config = v.voters != r->view.voters ||
			      v.learners != r->view.learners ||
			      v.term != r->view.term || v.role != r->view.role;
		bool lost_leader = raft_view_only_lost_leader(&r->view, &v);

		r->view = v;
		raft_chan_send_view(r);
		r->fresh_seq = r->view_seq;
		if (!lost_leader)
			r->prevote_seq = r->view_seq;
		/* The first view with this configuration and leadership:
		 * membership changes wait for the dataplane to apply it
		 * (membership.c, "settled"). */
		if (config)
			r->config_seq = r->view_seq;
		return;
	}
	if (r->now >= r->view_due)
		raft_chan_send_view(r);
}

/* Ask the dataplane to pull @partition's tail from node @from. */
void
raft_chan_pull(struct raft_ctl *r, uint16_t partition, uint8_t from)
{
	struct raft_chan_down *d = &r->down;

	LATCH_ASSERT(partition < r->cfg.partitions);
	memset(d, 0, sizeof(*d));
	d->type = RAFT_CHAN_PULL;
	d->partition = partition;
	d->u.pull.from = from;
	r->ops.chan(r->ctx, d);
}
