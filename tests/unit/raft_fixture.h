/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A tiny in-memory fixture for the Raft unit tests: nodes whose sent
 * messages are captured in an outbox, delivered by hand by the test, so
 * each test can build the exact situation of a figure of the paper.
 */
#ifndef LATCH_TEST_RAFT_FIXTURE_H
#define LATCH_TEST_RAFT_FIXTURE_H

#include <string.h>

#include "control/raft/raft.h"

#define FX_NODES  5
#define FX_OUTBOX 256

struct fx_node {
	struct raft *r;
	unsigned applied;
	unsigned takeovers;
};

struct fx {
	struct fx_node n[FX_NODES];
	struct raft_msg out[FX_OUTBOX];
	unsigned out_n;
	uint64_t now;
	struct raft_effects eff;
};

static struct fx fx_state;

static void
fx_send(void *ctx, const struct raft_msg *m)
{
	(void)ctx;
	if (fx_state.out_n < FX_OUTBOX)
		fx_state.out[fx_state.out_n++] = *m;
}

static void
fx_apply(void *ctx, uint16_t log, uint64_t index, const struct lock_entry *e)
{
	(void)log;
	(void)index;
	(void)e;
	((struct fx_node *)ctx)->applied++;
}

static uint32_t
fx_save(void *ctx, uint16_t log, uint8_t *buf, uint32_t max)
{
	(void)ctx;
	(void)log;
	(void)max;
	buf[0] = 0;
	return 1;
}

static void
fx_load(void *ctx, uint16_t log, const uint8_t *buf, uint32_t len)
{
	(void)ctx;
	(void)log;
	(void)buf;
	(void)len;
}

static void
fx_takeover(void *ctx, uint16_t log, uint64_t now_ms)
{
	(void)log;
	(void)now_ms;
	((struct fx_node *)ctx)->takeovers++;
}

static const struct raft_ops fx_ops = {
	.send = fx_send,
	.apply = fx_apply,
	.save = fx_save,
	.load = fx_load,
	.takeover = fx_takeover,
};

/* @nodes nodes, the first @voters of them voters, @parts partitions. */
static void
fx_init(unsigned nodes, unsigned voters, unsigned parts)
{
	unsigned i;

	memset(&fx_state, 0, sizeof(fx_state));
	for (i = 0; i < nodes; i++) {
		struct raft_config cfg = {
			.id = (uint8_t)i,
			.voters_initial = (uint8_t)((1u << voters) - 1),
			.partitions = (uint16_t)parts,
			.election_ms = 100,
			.heartbeat_ms = 20,
			.plog = {.entries_max = 64,
				 .batch_max = 8,
				 .inflight_max = 4,
				 .snapshot_max = 64},
			.meta = {.entries_max = 32,
				 .batch_max = 8,
				 .inflight_max = 2,
				 .snapshot_max = 16},
			.seed = 1000 + i,
		};

		fx_state.n[i].r = raft_create(&cfg, &fx_ops, &fx_state.n[i], 1,
					      i < voters);
	}
}

static void
fx_fini(void)
{
	unsigned i;

	for (i = 0; i < FX_NODES; i++)
		raft_destroy(fx_state.n[i].r);
	memset(&fx_state, 0, sizeof(fx_state));
}

static void
fx_tick(unsigned i)
{
	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	raft_tick(fx_state.n[i].r, fx_state.now, &fx_state.eff);
}

/* Deliver every queued message (and what they cause) to nodes in @up. */
static void
fx_deliver_all(uint8_t up)
{
	unsigned rounds = 0;

	while (fx_state.out_n > 0 && rounds++ < 1000) {
		struct raft_msg m = fx_state.out[0];

		memmove(&fx_state.out[0], &fx_state.out[1],
			(fx_state.out_n - 1) * sizeof(m));
		fx_state.out_n--;
		if (!(up & (1u << m.to)) || !(up & (1u << m.from)) ||
		    fx_state.n[m.to].r == NULL)
			continue;
		memset(&fx_state.eff, 0, sizeof(fx_state.eff));
		raft_recv(fx_state.n[m.to].r, &m, fx_state.now, &fx_state.eff);
	}
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
			if (fx_state.n[i].r != NULL && (up & (1u << i)))
				fx_tick(i);
		fx_deliver_all(up);
	}
}

static int
fx_leader(void)
{
	unsigned i;

	for (i = 0; i < FX_NODES; i++)
		if (fx_state.n[i].r != NULL &&
		    fx_state.n[i].r->role == RAFT_LEADER)
			return (int)i;
	return -1;
}

/* Append an entry of @term to @r's log @l directly (building a state). */
static void
fx_put(struct raft *r, uint16_t l, uint64_t term)
{
	struct lock_entry e;

	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	e.term = term;
	e.client_id = 7;
	assert_true(plog_append(r->log[l], &e) > 0);
}

/* A VOTE (or PREVOTE) from @from carrying @from's own positions. */
static struct raft_msg
fx_vote_msg(unsigned from, unsigned to, uint8_t type, uint64_t term)
{
	struct raft_msg m;
	struct raft *r = fx_state.n[from].r;
	uint16_t l;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.from = (uint8_t)from;
	m.to = (uint8_t)to;
	m.term = term;
	m.u.vote.logs = r->logs;
	for (l = 0; l < r->logs; l++)
		m.u.vote.pos[l] = plog_last_pos(r->log[l]);
	return m;
}

/* Deliver @m to its target and return the reply it sent (granted?). */
static bool
fx_ask(struct raft_msg m)
{
	unsigned k;

	fx_state.out_n = 0;
	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	raft_recv(fx_state.n[m.to].r, &m, fx_state.now, &fx_state.eff);
	for (k = 0; k < fx_state.out_n; k++)
		if (fx_state.out[k].type == m.type + 1)
			return fx_state.out[k].u.vote_reply.granted;
	return false;
}

#endif /* LATCH_TEST_RAFT_FIXTURE_H */
