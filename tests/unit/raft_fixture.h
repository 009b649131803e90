/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny in-memory fixture for the Raft unit tests: nodes composed as in
 * the product (a control half, FX_PARTS partition replicators, the local
 * channel between them), whose messages (network and channel) are
 * captured in one FIFO outbox and delivered by hand by the test, so each
 * test can build the exact situation of a figure of the paper.
 */
#ifndef LATCH_TEST_RAFT_FIXTURE_H
#define LATCH_TEST_RAFT_FIXTURE_H

#include <string.h>

#include "control/raft/raft.h"
#include "dataplane/prepl.h"

#define FX_NODES  5
#define FX_PARTS  3
#define FX_OUTBOX 512

enum fx_kind {
	FX_NET = 0,  /* node to node */
	FX_DOWN = 1, /* control -> dataplane of node */
	FX_UP = 2,   /* dataplane -> control of node */
};

struct fx_node;

struct fx_part {
	struct fx_node *n;
	uint16_t p;
};

struct fx_node {
	struct raft_ctl *c;
	struct prepl *pp[FX_PARTS];
	struct fx_part part[FX_PARTS];
	unsigned parts;
	unsigned id;
	unsigned applied;
	unsigned takeovers;
};

struct fx_item {
	uint8_t kind; /* enum fx_kind */
	uint8_t node; /* FX_DOWN, FX_UP */
	struct raft_msg m;
	struct raft_chan_down d;
	struct raft_chan_report rep;
};

struct fx {
	struct fx_node n[FX_NODES];
	struct fx_item out[FX_OUTBOX];
	unsigned out_n;
	uint64_t now;
	struct raft_effects eff;
};

static struct fx fx_state;

static struct fx_item *
fx_push(uint8_t kind, uint8_t node)
{
	struct fx_item *it;

	if (fx_state.out_n >= FX_OUTBOX)
		return NULL;
	it = &fx_state.out[fx_state.out_n++];
	it->kind = kind;
	it->node = node;
	return it;
}

static void
fx_send(void *ctx, const struct raft_msg *m)
{
	struct fx_item *it = fx_push(FX_NET, m->from);

	(void)ctx;
	if (it != NULL)
		it->m = *m;
}

static void
fx_chan(void *ctx, const struct raft_chan_down *d)
{
	struct fx_node *n = ctx;
	struct fx_item *it = fx_push(FX_DOWN, (uint8_t)n->id);

	if (it != NULL)
		it->d = *d;
}

static void
fx_report(void *ctx, const struct raft_chan_report *rep)
{
	struct fx_part *fp = ctx;
	struct fx_item *it = fx_push(FX_UP, (uint8_t)fp->n->id);

	if (it != NULL)
		it->rep = *rep;
}

static void
fx_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	(void)index;
	(void)e;
	((struct fx_part *)ctx)->n->applied++;
}

static uint32_t
fx_save(void *ctx, uint8_t *buf, uint32_t max)
{
	(void)ctx;
	(void)max;
	buf[0] = 0;
	return 1;
}

static void
fx_load(void *ctx, const uint8_t *buf, uint32_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

static void
fx_takeover(void *ctx, uint64_t now_ms)
{
	(void)now_ms;
	((struct fx_part *)ctx)->n->takeovers++;
}

static const struct raft_ctl_ops fx_ctl_ops = {
	.send = fx_send,
	.chan = fx_chan,
};

static const struct prepl_ops fx_prepl_ops = {
	.send = fx_send,
	.report = fx_report,
	.apply = fx_apply,
	.save = fx_save,
	.load = fx_load,
	.takeover = fx_takeover,
};

/* @nodes nodes, the first @voters of them voters, @parts partitions.
 * Every dataplane starts as incarnation 1. */
static void
fx_init(unsigned nodes, unsigned voters, unsigned parts)
{
	unsigned i, p;

	memset(&fx_state, 0, sizeof(fx_state));
	for (i = 0; i < nodes; i++) {
		struct fx_node *n = &fx_state.n[i];
		struct raft_ctl_config cfg = {
			.id = (uint8_t)i,
			.voters_initial = (uint8_t)((1u << voters) - 1),
			.partitions = (uint16_t)parts,
			.election_ms = 100,
			.heartbeat_ms = 20,
			.meta = {.entries_max = 32,
				 .batch_max = 8,
				 .inflight_max = 2,
				 .snapshot_max = 16},
			.seed = 1000 + i,
		};

		n->id = i;
		n->parts = parts;
		n->c = raft_ctl_create(&cfg, &fx_ctl_ops, n,
				       i < voters ? 1 : 0);
		for (p = 0; p < parts; p++) {
			struct prepl_config pc = {
				.id = (uint8_t)i,
				.partition = (uint16_t)p,
				.heartbeat_ms = 20,
				.log = {.entries_max = 64,
					.batch_max = 8,
					.inflight_max = 4,
					.snapshot_max = 64},
			};

			n->part[p].n = n;
			n->part[p].p = (uint16_t)p;
			n->pp[p] = prepl_create(&pc, &fx_prepl_ops, &n->part[p],
						1);
		}
	}
}

static void
fx_fini(void)
{
	unsigned i, p;

	for (i = 0; i < FX_NODES; i++) {
		raft_ctl_destroy(fx_state.n[i].c);
		for (p = 0; p < fx_state.n[i].parts; p++)
			prepl_destroy(fx_state.n[i].pp[p]);
	}
	memset(&fx_state, 0, sizeof(fx_state));
}

/* Is @m for a partition's worker rather than the control plane? */
static bool
fx_is_dataplane(const struct raft_msg *m)
{
	const struct fx_node *n = &fx_state.n[m->to];

	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_APPEND_REPLY:
	case RAFT_MSG_SNAPSHOT:
	case RAFT_MSG_SNAPSHOT_REPLY:
	case RAFT_MSG_PULL:
	case RAFT_MSG_PULL_REPLY:
		return m->log < n->parts;
	default:
		return false;
	}
}

/* Deliver one item (network items only between nodes in @up). */
static void
fx_deliver(const struct fx_item *it, uint8_t up)
{
	struct fx_node *n;
	unsigned p;

	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	if (it->kind == FX_NET) {
		const struct raft_msg *m = &it->m;

		if (!(up & (1u << m->to)) || !(up & (1u << m->from)) ||
		    fx_state.n[m->to].c == NULL)
			return;
		n = &fx_state.n[m->to];
		if (fx_is_dataplane(m))
			prepl_recv(n->pp[m->log], m, fx_state.now);
		else
			raft_ctl_recv(n->c, m, fx_state.now, &fx_state.eff);
		return;
	}
	n = &fx_state.n[it->node];
	if (it->kind == FX_DOWN)
		for (p = 0; p < n->parts; p++)
			prepl_chan(n->pp[p], &it->d, fx_state.now);
	else
		raft_ctl_report(n->c, &it->rep, fx_state.now, &fx_state.eff);
}

/* Take item @k out of the outbox. */
static struct fx_item
fx_take(unsigned k)
{
	struct fx_item it = fx_state.out[k];

	memmove(&fx_state.out[k], &fx_state.out[k + 1],
		(fx_state.out_n - k - 1) * sizeof(it));
	fx_state.out_n--;
	return it;
}

/* Deliver every queued item (and what they cause), FIFO. */
static void
fx_deliver_all(uint8_t up)
{
	unsigned rounds = 0;

	while (fx_state.out_n > 0 && rounds++ < 4000) {
		struct fx_item it = fx_take(0);

		fx_deliver(&it, up);
	}
}

/* Deliver only channel items of node @i, leaving the network's queued. */
static void
fx_chan_settle(unsigned i)
{
	unsigned k = 0, rounds = 0;

	while (k < fx_state.out_n && rounds++ < 4000) {
		if (fx_state.out[k].kind != FX_NET &&
		    fx_state.out[k].node == i) {
			struct fx_item it = fx_take(k);

			fx_deliver(&it, 0);
			k = 0;
			continue;
		}
		k++;
	}
}

static void
fx_tick(unsigned i)
{
	struct fx_node *n = &fx_state.n[i];
	unsigned p;

	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	raft_ctl_tick(n->c, fx_state.now, &fx_state.eff);
	for (p = 0; p < n->parts; p++)
		prepl_tick(n->pp[p], fx_state.now);
}

/* Node @i's halves learn of each other: reports, view, fresh reports. */
static void
fx_settle(unsigned i)
{
	fx_tick(i);
	fx_chan_settle(i);
}

/* Run time forward by @ms in 5 ms ticks among nodes in @up. */
static void
fx_run(unsigned ms, uint8_t up)
{
	uint64_t end = fx_state.now + ms;
	unsigned i;

	while (fx_state.now < end) {
		fx_state.now += 5;
		for (i = 0; i < FX_NODES; i++)
			if (fx_state.n[i].c != NULL && (up & (1u << i)))
				fx_tick(i);
		fx_deliver_all(up);
	}
}

static int
fx_leader(void)
{
	unsigned i;

	for (i = 0; i < FX_NODES; i++)
		if (fx_state.n[i].c != NULL &&
		    fx_state.n[i].c->role == RAFT_LEADER)
			return (int)i;
	return -1;
}

/* Append an entry of @term to partition @p of node @i directly. */
static void
fx_put(unsigned i, uint16_t p, uint64_t term)
{
	struct lock_entry e;

	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	e.term = term;
	e.client_id = 7;
	assert_true(plog_append(fx_state.n[i].pp[p]->log, &e) > 0);
}

/* A VOTE (or PREVOTE) from @from carrying @from's true positions. */
static struct raft_msg
fx_vote_msg(unsigned from, unsigned to, uint8_t type, uint64_t term)
{
	struct raft_msg m;
	struct fx_node *n = &fx_state.n[from];
	uint16_t p;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = (uint8_t)from;
	m.to = (uint8_t)to;
	m.term = term;
	m.u.vote.logs = n->c->logs;
	for (p = 0; p < n->parts; p++)
		m.u.vote.pos[p] = plog_last_pos(n->pp[p]->log);
	m.u.vote.pos[n->parts] = plog_last_pos(n->c->meta);
	return m;
}

/* The reply of type @type in the outbox, or NULL. */
static const struct raft_msg *
fx_find(uint8_t type, unsigned from)
{
	unsigned k;

	for (k = 0; k < fx_state.out_n; k++)
		if (fx_state.out[k].kind == FX_NET &&
		    fx_state.out[k].m.type == type &&
		    fx_state.out[k].m.from == from)
			return &fx_state.out[k].m;
	return NULL;
}

/* Deliver @m to its target, let the target's halves talk, and return
 * whether the reply it sent granted. */
static bool
fx_ask(struct raft_msg m)
{
	const struct raft_msg *rep;

	fx_state.out_n = 0;
	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	raft_ctl_recv(fx_state.n[m.to].c, &m, fx_state.now, &fx_state.eff);
	fx_chan_settle(m.to);
	rep = fx_find((uint8_t)(m.type + 1), m.to);
	return rep != NULL && rep->u.vote_reply.granted;
}

#endif /* LATCH_TEST_RAFT_FIXTURE_H */
