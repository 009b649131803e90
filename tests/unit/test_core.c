/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-control's seam to the Raft core (control/core.c, core_raft.c):
 *
 * - core_step_carry() persists before it hands anything to latchd and
 *   hands to latchd before it sends to peers, and sends nothing when
 *   persisting fails (recording fake, docs/raft.md "Ordering the shell
 *   must honour").
 * - Three core_raft nodes, carried by that same function over a fake
 *   network and fake dataplanes, elect exactly one leader that all follow
 *   in one term; every VOTE and granted VOTE_REPLY leaves only after the
 *   term and vote it rests on were persisted, and after the dataplane was
 *   handed a view of that term; the persisted state restores a core that
 *   comes back with the same term and vote.
 * - The start counter of the store grows across reopenings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "control/core.h"
#include "control/core_raft.h"
#include "control/raft/raft.h"
#include "control/store.h"

/* ---- ordering with a recording fake ------------------------------------ */

enum rec_kind { REC_STATE = 1, REC_META, REC_CHAN, REC_SEND };

struct rec {
	unsigned n;
	enum rec_kind kind[64];
	int fail_state; /* return this from persist_state */
	int fail_meta;
};

static int
rec_state(void *ctx, const struct store_state *s)
{
	struct rec *r = ctx;

	(void)s;
	r->kind[r->n++] = REC_STATE;
	return r->fail_state;
}

static int
rec_meta(void *ctx, const struct core_ops *ops, const void *core, uint64_t from)
{
	struct rec *r = ctx;

	(void)ops;
	(void)core;
	(void)from;
	r->kind[r->n++] = REC_META;
	return r->fail_meta;
}

static int
rec_chan(void *ctx, const struct raft_chan_down *d)
{
	struct rec *r = ctx;

	(void)d;
	r->kind[r->n++] = REC_CHAN;
	return -EAGAIN; /* a full channel does not stop the step */
}

static int
rec_send(void *ctx, const struct raft_msg *m)
{
	struct rec *r = ctx;

	(void)m;
	r->kind[r->n++] = REC_SEND;
	return 0;
}

static const struct core_io rec_io = {
	.persist_state = rec_state,
	.persist_meta = rec_meta,
	.chan = rec_chan,
	.send = rec_send,
};

static struct core_step step; /* large: not on the stack */

static void
step_full(void)
{
	memset(&step, 0, sizeof(step));
	step.persist_state = true;
	step.persist_meta_from = 3;
	step.chan_count = 2;
	step.out_count = 2;
	step.out[0].type = RAFT_MSG_VOTE;
	step.out[1].type = RAFT_MSG_VOTE;
}

static void
test_carry_order(void **state)
{
	static const enum rec_kind want[] = {REC_STATE, REC_META, REC_CHAN,
					     REC_CHAN,  REC_SEND, REC_SEND};
	struct rec r = {0};
	unsigned i;

	(void)state;
	step_full();
	assert_int_equal(
		core_step_carry(&rec_io, &r, &core_null_ops, NULL, &step), 0);
	assert_int_equal(r.n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < r.n; i++)
		assert_int_equal(r.kind[i], want[i]);
}

static void
test_carry_persist_fails(void **state)
{
	struct rec r = {0};

	(void)state;
	step_full();
	r.fail_state = -EIO;
	assert_int_equal(
		core_step_carry(&rec_io, &r, &core_null_ops, NULL, &step),
		-EIO);
	assert_int_equal(r.n, 1); /* the state write alone */
	memset(&r, 0, sizeof(r));
	r.fail_meta = -ENOSPC;
	assert_int_equal(
		core_step_carry(&rec_io, &r, &core_null_ops, NULL, &step),
		-ENOSPC);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.kind[1], REC_META);
}

/* ---- three nodes over a fake network ----------------------------------- */

#define NODES        3
#define PARTS        2
#define ELECTION_MS  150
#define HEARTBEAT_MS 30
#define QUEUE_MAX    4096

struct node {
	unsigned id; /* raft node id: 1..NODES (profile ids) */
	struct core_raft *core;
	uint64_t timer;
	/* "disk" */
	struct store_state disk;
	uint64_t disk_meta_last;
	struct lock_entry disk_meta[64];
	/* the dataplane's last applied view and its incarnation */
	uint64_t dp_incarnation;
	struct raft_chan_view view;
	bool has_view;
	uint64_t view_term_handed; /* highest term of a view handed down */
	uint64_t next_report;
};

static struct node nodes[NODES + 1];

struct qmsg {
	struct raft_msg m;
};
static struct qmsg *queue;
static unsigned q_head, q_tail;
static uint64_t now_ms;
static unsigned votes_checked;

static int
net_state(void *ctx, const struct store_state *s)
{
	struct node *n = ctx;

	n->disk = *s;
	return 0;
}

static int
net_meta(void *ctx, const struct core_ops *ops, const void *core, uint64_t from)
{
	struct node *n = ctx;
	uint64_t i, last = ops->meta_last(core);

	for (i = from; i <= last && i < 64; i++)
		assert_int_equal(ops->meta_get(core, i, &n->disk_meta[i]), 0);
	n->disk_meta_last = last;
	return 0;
}

static int
net_chan(void *ctx, const struct raft_chan_down *d)
{
	struct node *n = ctx;

	if (d->type != RAFT_CHAN_VIEW ||
	    d->u.view.dp_incarnation != n->dp_incarnation)
		return 0;
	/* The rule the dataplane obeys (raft_chan.h): newer views only. */
	if (n->has_view &&
	    (d->u.view.ctl_incarnation < n->view.ctl_incarnation ||
	     (d->u.view.ctl_incarnation == n->view.ctl_incarnation &&
	      d->u.view.seq <= n->view.seq)))
		return 0;
	n->view = d->u.view;
	n->has_view = true;
	if (d->u.view.term > n->view_term_handed)
		n->view_term_handed = d->u.view.term;
	n->next_report = now_ms; /* workers report after every view */
	return 0;
}

static int
net_send(void *ctx, const struct raft_msg *m)
{
	struct node *n = ctx;

	/* What the message rests on is on "disk" and in the dataplane. */
	if (m->type == RAFT_MSG_VOTE) {
		assert_int_equal(n->disk.term, m->term);
		assert_int_equal(n->disk.voted_for, n->id);
		assert_true(n->view_term_handed >= m->term);
		votes_checked++;
	}
	if (m->type == RAFT_MSG_VOTE_REPLY && m->u.vote_reply.granted) {
		assert_int_equal(n->disk.term, m->term);
		assert_int_equal(n->disk.voted_for, m->to);
		assert_true(n->view_term_handed >= m->term);
		votes_checked++;
	}
	assert_true((q_tail + 1) % QUEUE_MAX != q_head);
	queue[q_tail].m = *m;
	q_tail = (q_tail + 1) % QUEUE_MAX;
	return 0;
}

static const struct core_io net_io = {
	.persist_state = net_state,
	.persist_meta = net_meta,
	.chan = net_chan,
	.send = net_send,
};

static void
carry(struct node *n)
{
	assert_int_equal(
		core_step_carry(&net_io, n, &core_raft_ops, n->core, &step), 0);
	assert_int_equal(step.dropped, 0);
	if (step.timer_ms != 0)
		n->timer = step.timer_ms;
}

static int
meta_read(void *ctx, uint64_t index, struct lock_entry *out)
{
	struct node *n = ctx;

	if (index == 0 || index > n->disk_meta_last)
		return -ENOENT;
	*out = n->disk_meta[index];
	return 0;
}

static void
node_start(struct node *n, uint64_t ctl_incarnation)
{
	struct core_raft_config cfg = {
		.id = (uint8_t)n->id,
		.voters = (1u << 1) | (1u << 2) | (1u << 3),
		.partitions = PARTS,
		.election_ms = ELECTION_MS,
		.heartbeat_ms = HEARTBEAT_MS,
		.seed = 0x9e3779b97f4a7c15ull * n->id + ctl_incarnation,
		.bootstrap = true,
	};

	memset(&step, 0, sizeof(step));
	n->core = core_raft_create(&cfg, &n->disk, meta_read, n,
				   n->disk_meta_last ? 1 : 0, n->disk_meta_last,
				   ctl_incarnation, now_ms, &step);
	assert_non_null(n->core);
	carry(n);
}

/* The fake dataplane: one REPORT per partition, echoing its view. */
static void
node_report(struct node *n)
{
	struct raft_chan_report rep;
	unsigned p;

	for (p = 0; p < PARTS; p++) {
		memset(&rep, 0, sizeof(rep));
		rep.partition = (uint16_t)p;
		rep.incarnation = n->dp_incarnation;
		if (n->has_view) {
			rep.ctl_incarnation = n->view.ctl_incarnation;
			rep.seq = n->view.seq;
			rep.term = n->view.term;
			rep.role = n->view.role;
		}
		if (!n->has_view ||
		    n->view.caught_up_incarnation != n->dp_incarnation)
			rep.flags |= RAFT_REPORT_F_AMNESIC;
		memset(&step, 0, sizeof(step));
		core_raft_ops.on_report(n->core, &rep, now_ms, &step);
		carry(n);
	}
	n->next_report = now_ms + HEARTBEAT_MS;
}

static void
run_until(uint64_t end)
{
	unsigned i;

	for (; now_ms < end; now_ms++) {
		for (i = 1; i <= NODES; i++) {
			struct node *n = &nodes[i];

			if (n->core == NULL)
				continue;
			if (now_ms >= n->next_report)
				node_report(n);
			if (now_ms >= n->timer) {
				memset(&step, 0, sizeof(step));
				core_raft_ops.on_timer(n->core, now_ms, &step);
				carry(n);
			}
		}
		while (q_head != q_tail) {
			struct raft_msg m = queue[q_head].m;
			struct node *to = &nodes[m.to];

			q_head = (q_head + 1) % QUEUE_MAX;
			if (m.to < 1 || m.to > NODES || to->core == NULL)
				continue;
			memset(&step, 0, sizeof(step));
			core_raft_ops.on_message(to->core, &m, now_ms, &step);
			carry(to);
		}
	}
}

/* Exactly one leader, followed by every running node in its term. */
static int
leader_agreed(uint64_t *term)
{
	struct core_view v;
	int leader = CORE_NO_LEADER;
	unsigned i, leaders = 0;
	uint64_t t = 0;

	for (i = 1; i <= NODES; i++) {
		if (nodes[i].core == NULL)
			continue;
		core_raft_ops.view(nodes[i].core, &v);
		if (!strcmp(v.role, "leader")) {
			leaders++;
			leader = (int)i;
			t = v.term;
		}
	}
	if (leaders != 1)
		return CORE_NO_LEADER;
	for (i = 1; i <= NODES; i++) {
		if (nodes[i].core == NULL)
			continue;
		core_raft_ops.view(nodes[i].core, &v);
		if (v.term != t || v.leader != leader)
			return CORE_NO_LEADER;
	}
	*term = t;
	return leader;
}

static void
net_reset(void)
{
	unsigned i;

	memset(nodes, 0, sizeof(nodes));
	for (i = 1; i <= NODES; i++) {
		nodes[i].id = i;
		nodes[i].disk.voted_for = STORE_VOTE_NONE;
		nodes[i].dp_incarnation = 1000 + i;
	}
	if (queue == NULL)
		queue = calloc(QUEUE_MAX, sizeof(*queue));
	assert_non_null(queue);
	q_head = q_tail = 0;
	now_ms = 1000;
	votes_checked = 0;
}

static void
test_three_nodes_elect(void **state)
{
	struct core_view v;
	uint64_t term = 0, term2 = 0;
	int leader, leader2;
	unsigned i;

	(void)state;
	net_reset();
	for (i = 1; i <= NODES; i++)
		node_start(&nodes[i], 2);
	run_until(now_ms + 20 * ELECTION_MS);
	leader = leader_agreed(&term);
	assert_int_not_equal(leader, CORE_NO_LEADER);
	assert_true(term >= 1);
	assert_true(votes_checked >= 2); /* its own VOTE(s) and a grant */
	/* Bootstrap: each took its first dataplane as caught up, on disk. */
	for (i = 1; i <= NODES; i++) {
		assert_int_equal(nodes[i].disk.caught_up_incarnation,
				 nodes[i].dp_incarnation);
		assert_int_equal(nodes[i].disk.term, term);
	}
	/* The leader's no-op reached every node's meta log and disk. */
	for (i = 1; i <= NODES; i++)
		assert_true(nodes[i].disk_meta_last >= 1);

	/* The leader's whole node dies: the others elect a new leader in a
	 * higher term. */
	core_raft_destroy(nodes[leader].core);
	nodes[leader].core = NULL;
	run_until(now_ms + 20 * ELECTION_MS);
	leader2 = leader_agreed(&term2);
	assert_int_not_equal(leader2, CORE_NO_LEADER);
	assert_int_not_equal(leader2, leader);
	assert_true(term2 > term);

	/* It comes back from its disk (same dataplane, new ctl start): it
	 * restores term and vote, then follows the new leader. */
	node_start(&nodes[leader], 3);
	core_raft_ops.view(nodes[leader].core, &v);
	assert_int_equal(v.term, term);
	assert_false(v.amnesic && v.caught_up_incarnation == 0);
	run_until(now_ms + 20 * ELECTION_MS);
	assert_int_not_equal(leader_agreed(&term2), CORE_NO_LEADER);
	core_raft_ops.view(nodes[leader].core, &v);
	assert_int_equal(v.term, term2);
	for (i = 1; i <= NODES; i++)
		core_raft_destroy(nodes[i].core);
}

/* A restarted core that finds a caught-up incarnation on disk does not
 * take a new dataplane as caught up: only the first, at term 0. */
static void
test_bootstrap_only_when_new(void **state)
{
	struct core_view v;

	(void)state;
	net_reset();
	nodes[1].disk.term = 4;
	nodes[1].disk.caught_up_incarnation = 77;
	node_start(&nodes[1], 5);
	nodes[1].dp_incarnation = 78; /* latchd restarted meanwhile */
	node_report(&nodes[1]);
	core_raft_ops.view(nodes[1].core, &v);
	assert_true(v.amnesic);
	assert_int_equal(v.caught_up_incarnation, 77);
	assert_int_equal(nodes[1].disk.caught_up_incarnation, 77);
	core_raft_destroy(nodes[1].core);
}

static void
test_start_count(void **state)
{
	char dir[] = "/tmp/latch-core-XXXXXX";
	struct store *st;
	uint64_t a, b;

	(void)state;
	assert_non_null(mkdtemp(dir));
	st = store_open(dir, NULL);
	assert_non_null(st);
	assert_int_equal(store_start_count(st, &a), 0);
	store_close(st);
	st = store_open(dir, NULL);
	assert_non_null(st);
	assert_int_equal(store_start_count(st, &b), 0);
	assert_true(b > a);
	store_close(st);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_carry_order),
		cmocka_unit_test(test_carry_persist_fails),
		cmocka_unit_test(test_three_nodes_elect),
		cmocka_unit_test(test_bootstrap_only_when_new),
		cmocka_unit_test(test_start_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
