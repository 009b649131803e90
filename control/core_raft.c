/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * core_raft: the control half of Raft behind core.h (see core_raft.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "control/core_raft.h"
#include "control/raft_wire.h"
#include "control/raft/raft.h"

struct core_raft {
	struct raft_ctl *r;
	struct core_step *st; /* the step under way; NULL between steps */
	/* A bootstrap node whose store was new: adopt the first dataplane
	 * incarnation reported at term 0 (core_raft.h). */
	bool bootstrap_pending;
};

/* raft_ctl_ops.send: queue for step 3 of core_step_carry(). */
static void
core_raft_send(void *ctx, const struct raft_msg *m)
{
	struct core_raft *c = ctx;
	struct core_step *st = c->st;

	if (st == NULL)
		return;
	if (st->out_count == CORE_OUT_MAX) {
		st->dropped++;
		return;
	}
	st->out[st->out_count++] = *m;
}

/* raft_ctl_ops.chan: queue for step 2 of core_step_carry(). */
static void
core_raft_chan(void *ctx, const struct raft_chan_down *d)
{
	struct core_raft *c = ctx;
	struct core_step *st = c->st;

	if (st == NULL)
		return;
	if (st->chan_count == CORE_CHAN_MAX) {
		st->dropped++;
		return;
	}
	st->chan[st->chan_count++] = *d;
}

static const struct raft_ctl_ops core_raft_ctl_ops = {
	.send = core_raft_send,
	.chan = core_raft_chan,
};

/* Step 1 of core_step_carry() from what the step changed. */
static void
core_raft_effects(struct core_raft *c, const struct raft_effects *fx,
		  struct core_step *st)
{
	if (fx->persist_term_vote || fx->persist_caught_up)
		st->persist_state = true;
	if (st->persist_state) {
		st->state.term = c->r->term;
		st->state.voted_for = c->r->voted_for;
		st->state.caught_up_incarnation = c->r->caught_up_incarnation;
	}
	if (fx->persist_meta_from != 0 &&
	    (st->persist_meta_from == 0 ||
	     fx->persist_meta_from < st->persist_meta_from))
		st->persist_meta_from = fx->persist_meta_from;
	st->timer_ms = fx->timer_ms;
}

/* Feed the store's meta log into the empty plog, batch by batch, as a
 * follower would receive it (commit 0: a new leader commits it again). */
static int
core_raft_meta_restore(struct core_raft *c, core_raft_meta_read_fn read,
		       void *read_ctx, uint64_t first, uint64_t last)
{
	struct raft_msg_append a;
	uint64_t i = first, prev_term = 0, matched;
	int rc;

	if (last == 0)
		return 0;
	if (first != 1 || last >= (uint64_t)c->r->cfg.meta.entries_max - 1)
		return -EINVAL;
	while (i <= last) {
		memset(&a, 0, sizeof(a));
		a.prev_index = i - 1;
		a.prev_term = prev_term;
		while (a.n < RAFT_BATCH_MAX && i <= last) {
			rc = read(read_ctx, i, &a.entries[a.n]);
			if (rc != 0)
				return rc;
			if (a.entries[a.n].term < prev_term)
				return -EIO; /* terms never go down in a log */
			prev_term = a.entries[a.n].term;
			a.n++;
			i++;
		}
		if (!plog_follower_append(c->r->meta, &a, &matched) ||
		    matched != i - 1)
			return -EIO;
	}
	return 0;
}

struct core_raft *
core_raft_create(const struct core_raft_config *cfg,
		 const struct store_state *s, core_raft_meta_read_fn read,
		 void *read_ctx, uint64_t meta_first, uint64_t meta_last,
		 uint64_t ctl_incarnation, uint64_t now_ms,
		 struct core_step *st)
{
	struct raft_ctl_config rc = {
		.id = cfg->id,
		.voters_initial = cfg->voters,
		.partitions = cfg->partitions,
		.election_ms = cfg->election_ms,
		.heartbeat_ms = cfg->heartbeat_ms,
		.beacon_ms = cfg->beacon_ms,
		.meta = {.entries_max = CORE_RAFT_META_ENTRIES,
			 .batch_max = RAFT_BATCH_MAX,
			 /* Kernel UDP between management addresses: one
			  * datagram within a 1500-byte MTU, unfragmented. */
			 .bytes_max = RAFT_WIRE_APPEND_ENTRIES_IN(1500),
			 .inflight_max = CORE_RAFT_META_INFLIGHT,
			 .snapshot_max = RAFT_SNAPSHOT_MAX},
		.seed = cfg->seed,
	};
	struct raft_effects fx;
	struct core_raft *c;
	int err;

	/* A bootstrap node is one of the initial voters. */
	if (ctl_incarnation <= 1 || cfg->id >= RAFT_NODES_MAX ||
	    (cfg->bootstrap && !(cfg->voters & (1u << cfg->id)))) {
		errno = EINVAL;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->r = raft_ctl_create(&rc, &core_raft_ctl_ops, c, 0);
	if (c->r == NULL)
		goto free_core;
	c->r->term = s->term;
	c->r->voted_for = (uint8_t)s->voted_for;
	c->r->caught_up_incarnation = s->caught_up_incarnation;
	err = core_raft_meta_restore(c, read, read_ctx, meta_first, meta_last);
	if (err != 0) {
		errno = -err;
		goto destroy_ctl;
	}
	c->bootstrap_pending = cfg->bootstrap && s->term == 0 &&
			       s->caught_up_incarnation == 0 && meta_last == 0;
	memset(&fx, 0, sizeof(fx));
	c->st = st;
	raft_ctl_restart(c->r, now_ms, ctl_incarnation, &fx);
	core_raft_effects(c, &fx, st);
	c->st = NULL;
	return c;

destroy_ctl:
	raft_ctl_destroy(c->r);
free_core:
	err = errno;
	free(c);
	errno = err;
	return NULL;
}

void
core_raft_destroy(struct core_raft *c)
{
	if (c == NULL)
		return;
	raft_ctl_destroy(c->r);
	free(c);
}

static void
cr_on_timer(void *core, uint64_t now_ms, struct core_step *st)
{
	struct core_raft *c = core;
	struct raft_effects fx = {0};

	c->st = st;
	raft_ctl_tick(c->r, now_ms, &fx);
	core_raft_effects(c, &fx, st);
	c->st = NULL;
}

static void
cr_on_message(void *core, const struct raft_msg *m, uint64_t now_ms,
	      struct core_step *st)
{
	struct core_raft *c = core;
	struct raft_effects fx = {0};

	c->st = st;
	raft_ctl_recv(c->r, m, now_ms, &fx);
	core_raft_effects(c, &fx, st);
	c->st = NULL;
}

static void
cr_on_peer_gone(void *core, uint8_t node, uint64_t now_ms, struct core_step *st)
{
	struct core_raft *c = core;
	struct raft_effects fx = {0};

	c->st = st;
	raft_ctl_peer_gone(c->r, node, now_ms, &fx);
	core_raft_effects(c, &fx, st);
	c->st = NULL;
}

/* latchd's JSON status: liveness for the pages only. The core judges its
 * dataplane by REPORTs (a leader whose dataplane stops reporting steps
 * down, docs/raft.md), so nothing happens here. */
static void
cr_on_latchd(void *core, const struct latchd_report *r, uint64_t now_ms,
	     struct core_step *st)
{
	(void)core;
	(void)r;
	(void)now_ms;
	(void)st;
}

static void
cr_on_report(void *core, const struct raft_chan_report *rep, uint64_t now_ms,
	     struct core_step *st)
{
	struct core_raft *c = core;
	struct raft_effects fx = {0};

	c->st = st;
	if (c->bootstrap_pending && rep->incarnation != 0) {
		c->bootstrap_pending = false;
		/* Term 0: no leader ever existed, nothing is committed, so
		 * this dataplane's logs are complete (core_raft.h). Later,
		 * only a leader's caught-up verdict may say so. */
		if (c->r->term == 0 && c->r->caught_up_incarnation == 0) {
			c->r->caught_up_incarnation = rep->incarnation;
			st->persist_state = true;
		}
	}
	raft_ctl_report(c->r, rep, now_ms, &fx);
	core_raft_effects(c, &fx, st);
	c->st = NULL;
}

/* A raft_ctl operator command on node @node (raft.h's signature). */
typedef int (*cr_node_cmd_fn)(struct raft_ctl *r, uint8_t node, uint64_t now,
			      struct raft_effects *fx);

/* Run @fn as a core step: its effects carried out like any other's. */
static int
cr_node_cmd(void *core, cr_node_cmd_fn fn, uint8_t node, uint64_t now_ms,
	    struct core_step *st)
{
	struct core_raft *c = core;
	struct raft_effects fx = {0};
	int rc;

	if (now_ms < c->r->now)
		now_ms = c->r->now;
	c->st = st;
	rc = fn(c->r, node, now_ms, &fx);
	core_raft_effects(c, &fx, st);
	c->st = NULL;
	return rc;
}

static int
cr_transfer(void *core, uint8_t target, uint64_t now_ms, struct core_step *st)
{
	return cr_node_cmd(core, raft_ctl_transfer, target, now_ms, st);
}

static int
cr_add_learner(void *core, uint8_t node, uint64_t now_ms, struct core_step *st)
{
	return cr_node_cmd(core, raft_ctl_add_learner, node, now_ms, st);
}

static int
cr_remove_member(void *core, uint8_t node, uint64_t now_ms,
		 struct core_step *st)
{
	return cr_node_cmd(core, raft_ctl_remove_member, node, now_ms, st);
}

static const char *
cr_role_name(uint8_t role)
{
	switch (role) {
	case RAFT_PRECANDIDATE:
		return "pre-candidate";
	case RAFT_CANDIDATE:
		return "candidate";
	case RAFT_LEADER:
		return "leader";
	default:
		return "follower";
	}
}

static void
cr_view(const void *core, struct core_view *v)
{
	const struct core_raft *c = core;
	const struct raft_ctl *r = c->r;
	uint8_t leader = r->role == RAFT_LEADER ? r->cfg.id : r->leader;

	memset(v, 0, sizeof(*v));
	v->term = r->term;
	v->role = cr_role_name(r->role);
	v->leader = leader == RAFT_NONE ? CORE_NO_LEADER : leader;
	v->integrated = true;
	v->voters = r->voters;
	v->learners = r->learners;
	v->amnesic = raft_is_amnesic(r);
	v->ctl_incarnation = r->ctl_incarnation;
	v->dp_incarnation = r->dp_incarnation;
	v->caught_up_incarnation = r->caught_up_incarnation;
	v->meta_last = r->meta->last;
	v->meta_commit = r->meta->commit;
	v->partitions = r->cfg.partitions;
	v->reports = r->rep;
}

static int
cr_meta_get(const void *core, uint64_t index, struct lock_entry *e)
{
	const struct core_raft *c = core;
	const struct lock_entry *p = plog_entry(c->r->meta, index);

	if (p == NULL)
		return -ENOENT;
	*e = *p;
	return 0;
}

static uint64_t
cr_meta_last(const void *core)
{
	const struct core_raft *c = core;

	return c->r->meta->last;
}

const struct core_ops core_raft_ops = {
	.on_timer = cr_on_timer,
	.on_message = cr_on_message,
	.on_latchd = cr_on_latchd,
	.on_report = cr_on_report,
	.on_peer_gone = cr_on_peer_gone,
	.transfer = cr_transfer,
	.add_learner = cr_add_learner,
	.remove_member = cr_remove_member,
	.view = cr_view,
	.meta_get = cr_meta_get,
	.meta_last = cr_meta_last,
};
