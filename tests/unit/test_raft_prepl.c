/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the partition replicator alone (dataplane/prepl.c), fed
 * views by hand as its control plane would: it acknowledges APPENDs only
 * at exactly the view's term and from the view's leader, reports higher
 * terms up instead of adopting them, ignores views meant for an earlier
 * incarnation or older than the last, and as leader counts no ack of an
 * amnesic follower (docs/raft.md, "the diskless rule") and commits
 * earlier-term entries only through its own (§5.4.2, Figure 8).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/prepl.h"

struct t_out {
	struct raft_msg sent[16];
	unsigned sent_n;
	struct raft_chan_report rep;
	unsigned reports;
	unsigned takeovers;
};

static struct t_out t_out;

static void
t_send(void *ctx, const struct raft_msg *m)
{
	(void)ctx;
	if (t_out.sent_n < 16)
		t_out.sent[t_out.sent_n++] = *m;
}

static void
t_report(void *ctx, const struct raft_chan_report *rep)
{
	(void)ctx;
	t_out.rep = *rep;
	t_out.reports++;
}

static void
t_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	(void)ctx;
	(void)index;
	(void)e;
}

static uint32_t
t_save(void *ctx, uint8_t *buf, uint32_t max)
{
	(void)ctx;
	(void)max;
	buf[0] = 0;
	return 1;
}

static void
t_load(void *ctx, const uint8_t *buf, uint32_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
}

static void
t_takeover(void *ctx, uint64_t now_ms)
{
	(void)ctx;
	(void)now_ms;
	t_out.takeovers++;
}

static const struct prepl_ops t_ops = {t_send, t_report, t_apply,
				       t_save, t_load,   t_takeover};

static struct prepl *
t_prepl(uint8_t id)
{
	struct prepl_config cfg = {.id = id,
				   .partition = 0,
				   .heartbeat_ms = 20,
				   .log = {.entries_max = 64,
					   .batch_max = 4,
					   .inflight_max = 2,
					   .snapshot_max = 16}};
	struct prepl *pp = prepl_create(&cfg, &t_ops, NULL, 1);

	memset(&t_out, 0, sizeof(t_out));
	assert_non_null(pp);
	return pp;
}

static void
t_view(struct prepl *pp, uint64_t seq, uint64_t inc, uint64_t term,
       uint8_t role, uint8_t leader)
{
	struct raft_chan_down d;

	memset(&d, 0, sizeof(d));
	d.type = RAFT_CHAN_VIEW;
	d.partition = RAFT_CHAN_ALL;
	d.u.view.ctl_incarnation = 1;
	d.u.view.seq = seq;
	d.u.view.dp_incarnation = inc;
	d.u.view.term = term;
	d.u.view.caught_up_incarnation = 1;
	d.u.view.role = role;
	d.u.view.leader = leader;
	d.u.view.voters = 0x07;
	d.u.view.counted = 0x07;
	prepl_chan(pp, &d, pp->now > 100 ? pp->now : 100);
}

static struct raft_msg
t_append(uint8_t from, uint8_t to, uint64_t term, uint64_t prev_index,
	 uint64_t prev_term, uint64_t entry_term)
{
	struct raft_msg m;

	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND;
	m.from = from;
	m.to = to;
	m.term = term;
	m.u.append.prev_index = prev_index;
	m.u.append.prev_term = prev_term;
	m.u.append.n = entry_term ? 1 : 0;
	m.u.append.entries[0].op = LOCK_E_ACQUIRE;
	m.u.append.entries[0].term = entry_term;
	return m;
}

/* APPENDs are acked only at the view's term and from its leader. */
static void
test_append_only_from_told_term_and_leader(void **state)
{
	struct prepl *pp = t_prepl(1);
	struct raft_msg m;

	(void)state;
	/* Before any view: nothing is acked. */
	m = t_append(0, 1, 3, 0, 0, 3);
	prepl_recv(pp, &m, 100);
	assert_int_equal(t_out.sent_n, 0);
	t_view(pp, 1, 1, 3, RAFT_VIEW_FOLLOWER, 0);
	assert_int_equal(t_out.rep.term, 3);
	assert_int_equal(t_out.rep.seq, 1);
	/* A higher term: dropped, reported up, not adopted. */
	m = t_append(2, 1, 4, 0, 0, 4);
	prepl_recv(pp, &m, 100);
	assert_int_equal(t_out.sent_n, 0);
	assert_int_equal(t_out.rep.seen_term, 4);
	assert_int_equal(t_out.rep.seen_from, 2);
	assert_int_equal(pp->view.term, 3);
	assert_int_equal(pp->log->last, 0);
	/* The view's term from another node than its leader: dropped. */
	m = t_append(2, 1, 3, 0, 0, 3);
	prepl_recv(pp, &m, 100);
	assert_int_equal(t_out.sent_n, 0);
	assert_int_equal(pp->log->last, 0);
	/* A lower term: refused with ours, so its sender learns it. */
	m = t_append(0, 1, 2, 0, 0, 2);
	prepl_recv(pp, &m, 100);
	assert_int_equal(t_out.sent_n, 1);
	assert_int_equal(t_out.sent[0].type, RAFT_MSG_APPEND_REPLY);
	assert_false(t_out.sent[0].u.append_reply.success);
	assert_int_equal(t_out.sent[0].term, 3);
	assert_int_equal(pp->log->last, 0);
	/* The leader of the view's term: acked. */
	m = t_append(0, 1, 3, 0, 0, 3);
	prepl_recv(pp, &m, 100);
	assert_int_equal(t_out.sent_n, 2);
	assert_true(t_out.sent[1].u.append_reply.success);
	assert_int_equal(t_out.sent[1].u.append_reply.index, 1);
	assert_int_equal(t_out.sent[1].u.append_reply.incarnation, 1);
	assert_false(t_out.sent[1].u.append_reply.amnesic);
	assert_int_equal(pp->log->last, 1);
	/* Moved to term 4 with no leader known: term 3 is refused, and
	 * term 4 is not acked before the view names its leader. */
	t_view(pp, 2, 1, 4, RAFT_VIEW_NONE, RAFT_NONE);
	m = t_append(0, 1, 3, 1, 3, 3);
	prepl_recv(pp, &m, 100);
	assert_false(t_out.sent[2].u.append_reply.success);
	m = t_append(2, 1, 4, 1, 3, 4);
	prepl_recv(pp, &m, 100);
	assert_int_equal(t_out.sent_n, 3);
	assert_int_equal(t_out.rep.seen_term, 4);
	assert_int_equal(pp->log->last, 1);
	prepl_destroy(pp);
}

/* Views for an earlier incarnation, older views and lower terms are
 * ignored. */
static void
test_stale_views_ignored(void **state)
{
	struct prepl *pp = t_prepl(1);

	(void)state;
	t_view(pp, 5, 1, 3, RAFT_VIEW_FOLLOWER, 0);
	assert_int_equal(pp->view.term, 3);
	t_view(pp, 4, 1, 7, RAFT_VIEW_FOLLOWER, 2);
	assert_int_equal(pp->view.term, 3); /* older seq */
	t_view(pp, 6, 1, 2, RAFT_VIEW_FOLLOWER, 2);
	assert_int_equal(pp->view.term, 3); /* lower term */
	prepl_restart(pp, 200, 2);
	assert_true(prepl_is_amnesic(pp));
	t_view(pp, 7, 1, 5, RAFT_VIEW_LEADER, 1);
	assert_int_equal(pp->view.seq, 0); /* meant for incarnation 1 */
	assert_false(prepl_is_leader(pp));
	prepl_destroy(pp);
}

/* Leader: an amnesic follower's acks do not count; Figure 8: entries of
 * earlier terms commit only with one of the leader's term. */
static void
test_leader_commit_rules(void **state)
{
	struct prepl *pp = t_prepl(0);
	struct lock_entry e;
	struct raft_msg m;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	e.term = 2;
	assert_int_equal(plog_append(pp->log, &e), 1);
	t_view(pp, 1, 1, 4, RAFT_VIEW_LEADER, 0);
	assert_true(prepl_is_leader(pp));
	assert_int_equal(pp->log->term_start, 2);
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND_REPLY;
	m.from = 1;
	m.to = 0;
	m.term = 4;
	m.u.append_reply.success = 1;
	m.u.append_reply.incarnation = 1;
	/* Node 1 holds the term-2 entry only: nothing commits. */
	m.u.append_reply.index = 1;
	prepl_recv(pp, &m, 110);
	assert_int_equal(pp->log->commit, 0);
	/* Node 1 holds the no-op too but says it is amnesic: no commit. */
	m.u.append_reply.index = 2;
	m.u.append_reply.amnesic = 1;
	prepl_recv(pp, &m, 110);
	assert_int_equal(pp->log->commit, 0);
	assert_int_equal(t_out.takeovers, 0);
	/* Caught up, it counts: both entries commit, takeover follows. */
	m.u.append_reply.amnesic = 0;
	prepl_recv(pp, &m, 120);
	assert_int_equal(pp->log->commit, 2);
	assert_int_equal(t_out.takeovers, 1);
	/* Leader transfer in the view: proposals refused. */
	{
		struct raft_chan_down d;

		memset(&d, 0, sizeof(d));
		d.type = RAFT_CHAN_VIEW;
		d.partition = RAFT_CHAN_ALL;
		d.u.view = pp->view;
		d.u.view.seq = 2;
		d.u.view.flags = RAFT_VIEW_F_TRANSFER;
		prepl_chan(pp, &d, 130);
	}
	assert_int_equal(prepl_propose(pp, &e, 130), -EBUSY);
	prepl_destroy(pp);
}

/*
 * Seed 89268 of the simulator (docs/raft.md, "ring sizing"): elected with
 * a ring full of entries it was never told are committed, a worker cannot
 * append its no-op. It reports LEAD_FAILED and asks every peer for its
 * tail and commit index; a peer's commit index commits, applies and
 * compacts what it shares, so the next term's no-op fits and it leads.
 */
static void
test_lead_failed_learns_commit(void **state)
{
	struct prepl *pp = t_prepl(0);
	struct raft_msg m;
	uint64_t i;
	unsigned k, pulls = 0;

	(void)state;
	t_view(pp, 1, 1, 2, RAFT_VIEW_FOLLOWER, 1);
	/* 63 entries of term 2 from leader 1, never told a commit index. */
	for (i = 0; i < 63; i++) {
		m = t_append(1, 0, 2, i, i ? 2 : 0, 2);
		prepl_recv(pp, &m, 100);
	}
	assert_int_equal(pp->log->last, 63);
	assert_int_equal(pp->log->commit, 0);
	t_out.sent_n = 0;
	t_view(pp, 2, 1, 3, RAFT_VIEW_LEADER, 0);
	assert_false(prepl_is_leader(pp));
	assert_true(t_out.rep.flags & RAFT_REPORT_F_LEAD_FAILED);
	for (k = 0; k < t_out.sent_n; k++) {
		if (t_out.sent[k].type != RAFT_MSG_PULL)
			continue;
		assert_int_equal(t_out.sent[k].u.pull.last.index, 63);
		pulls++;
	}
	assert_int_equal(pulls, 2); /* voters 1 and 2 */
	/* Node 1 holds the same 63 entries and knows 40 committed. */
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_PULL_REPLY;
	m.from = 1;
	m.to = 0;
	m.term = 3;
	m.u.append.prev_index = 63;
	m.u.append.prev_term = 2;
	m.u.append.commit = 2; /* the source's last term */
	m.u.append.source_commit = 40;
	prepl_recv(pp, &m, 110);
	assert_int_equal(pp->log->commit, 40);
	assert_int_equal(t_out.rep.commit, 40);
	/* The control plane stepped down, then won term 4. */
	t_view(pp, 3, 1, 3, RAFT_VIEW_NONE, RAFT_NONE);
	t_view(pp, 4, 1, 4, RAFT_VIEW_LEADER, 0);
	assert_true(prepl_is_leader(pp));
	assert_int_equal(pp->log->term_start, 64);
	assert_false(t_out.rep.flags & RAFT_REPORT_F_LEAD_FAILED);
	prepl_destroy(pp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_only_from_told_term_and_leader),
		cmocka_unit_test(test_stale_views_ignored),
		cmocka_unit_test(test_leader_commit_rules),
		cmocka_unit_test(test_lead_failed_learns_commit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
