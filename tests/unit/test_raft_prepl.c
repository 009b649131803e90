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

/* A view from control incarnation 1 that says dataplane incarnation
 * @caught_up is caught up. */
static void
t_view_caught(struct prepl *pp, uint64_t seq, uint64_t inc, uint64_t term,
	      uint8_t role, uint8_t leader, uint64_t caught_up)
{
	struct raft_chan_down d;

	memset(&d, 0, sizeof(d));
	d.type = RAFT_CHAN_VIEW;
	d.partition = RAFT_CHAN_ALL;
	d.u.view.ctl_incarnation = 1;
	d.u.view.seq = seq;
	d.u.view.dp_incarnation = inc;
	d.u.view.term = term;
	d.u.view.caught_up_incarnation = caught_up;
	d.u.view.role = role;
	d.u.view.leader = leader;
	d.u.view.voters = 0x07;
	d.u.view.counted = 0x07;
	prepl_chan(pp, &d, pp->now > 100 ? pp->now : 100);
}

static void
t_view(struct prepl *pp, uint64_t seq, uint64_t inc, uint64_t term,
       uint8_t role, uint8_t leader)
{
	t_view_caught(pp, seq, inc, term, role, leader, 1);
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

/* APPENDs are acked only at the view's term, and from its leader when it
 * names one. */
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
	 * term 4 is acked from whoever sends it, the one leader of term 4
	 * (before the view names it: the failover's first round). */
	t_view(pp, 2, 1, 4, RAFT_VIEW_NONE, RAFT_NONE);
	m = t_append(0, 1, 3, 1, 3, 3);
	prepl_recv(pp, &m, 100);
	assert_false(t_out.sent[2].u.append_reply.success);
	m = t_append(2, 1, 4, 1, 3, 4);
	prepl_recv(pp, &m, 100);
	assert_int_equal(t_out.sent_n, 4);
	assert_int_equal(t_out.sent[3].to, 2);
	assert_true(t_out.sent[3].u.append_reply.success);
	assert_int_equal(t_out.sent[3].term, 4);
	assert_int_equal(pp->log->last, 2);
	/* Once the view names node 2, node 0's APPENDs of term 4 would be a
	 * second leader's: dropped, as above. */
	t_view(pp, 3, 1, 4, RAFT_VIEW_FOLLOWER, 2);
	m = t_append(0, 1, 4, 2, 4, 4);
	prepl_recv(pp, &m, 100);
	assert_int_equal(t_out.sent_n, 4);
	assert_int_equal(pp->log->last, 2);
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

/* Messages of the last sends to @peer. */
static unsigned
t_sent_to(uint8_t peer)
{
	unsigned i, n = 0;

	for (i = 0; i < t_out.sent_n; i++)
		n += t_out.sent[i].to == peer;
	return n;
}

/*
 * A new leader resends every PREPL_PROBE_MS to the followers it has not
 * heard from (its first APPEND may reach one before that follower's view
 * of the term does, and be dropped), not once a heartbeat; a follower
 * that answered gets no more than usual, and the resends stop after a
 * few heartbeats (a dead follower must not cost one message a ms).
 */
static void
test_new_leader_probes_silent_followers(void **state)
{
	struct prepl *pp = t_prepl(0);
	struct raft_msg m;
	uint64_t due;

	(void)state;
	t_view(pp, 1, 1, 4, RAFT_VIEW_LEADER, 0);
	assert_true(prepl_is_leader(pp));
	(void)prepl_tick(pp, 100);
	assert_int_equal(t_sent_to(1), 1); /* the no-op to both */
	assert_int_equal(t_sent_to(2), 1);
	/* 1 ms on, nobody answered: the no-op again, long before the next
	 * heartbeat (20 ms). */
	t_out.sent_n = 0;
	due = prepl_tick(pp, 101);
	assert_int_equal(t_sent_to(1), 1);
	assert_int_equal(t_sent_to(2), 1);
	assert_true(due <= 102);
	/* Node 1 answers; only node 2 is probed from then on. */
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND_REPLY;
	m.from = 1;
	m.to = 0;
	m.term = 4;
	m.u.append_reply.success = 1;
	m.u.append_reply.incarnation = 1;
	m.u.append_reply.index = 1;
	prepl_recv(pp, &m, 101);
	t_out.sent_n = 0;
	(void)prepl_tick(pp, 102);
	assert_int_equal(t_sent_to(1), 0);
	assert_int_equal(t_sent_to(2), 1);
	/* Past four heartbeats (100 + 4 x 20) probing stops: between
	 * heartbeats nothing is sent to the silent node. */
	(void)prepl_tick(pp, 180);
	t_out.sent_n = 0;
	(void)prepl_tick(pp, 185);
	assert_int_equal(t_sent_to(2), 0);
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

/* ---- snapshots in chunks between two replicators ---- */

#define CH_QUEUE 256

/* One node's apply layer: a counter of applied entries, saved as a
 * 40-byte image (five chunks of 8). */
struct ch_node {
	uint64_t applied;
	unsigned loads;
};

static struct {
	struct raft_msg q[CH_QUEUE];
	unsigned n, sent, dropped, chunks, chunk_replies;
} ch_net;

static void
ch_send(void *ctx, const struct raft_msg *m)
{
	(void)ctx;
	if (m->type == RAFT_MSG_SNAPSHOT)
		ch_net.chunks++;
	if (m->type == RAFT_MSG_SNAPSHOT_REPLY)
		ch_net.chunk_replies++;
	/* Every third message is lost. */
	if (++ch_net.sent % 3 == 0 || ch_net.n == CH_QUEUE) {
		ch_net.dropped++;
		return;
	}
	ch_net.q[ch_net.n++] = *m;
}

static void
ch_report(void *ctx, const struct raft_chan_report *rep)
{
	(void)ctx;
	(void)rep;
}

static void
ch_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct ch_node *n = ctx;

	(void)index;
	(void)e;
	n->applied++;
}

static uint32_t
ch_save(void *ctx, uint8_t *buf, uint32_t max)
{
	struct ch_node *n = ctx;
	uint32_t i;

	assert_true(max >= 40);
	for (i = 0; i < 40; i++)
		buf[i] = (uint8_t)(n->applied * 31 + i);
	return 40;
}

static void
ch_load(void *ctx, const uint8_t *buf, uint32_t len)
{
	struct ch_node *n = ctx;
	uint32_t i;

	assert_int_equal(len, 40);
	n->applied = (uint8_t)(buf[0] * 223); /* 223 = 31^-1 mod 256 */
	for (i = 0; i < 40; i++)
		assert_int_equal(buf[i], (uint8_t)(n->applied * 31 + i));
	n->loads++;
}

static const struct prepl_ops ch_ops = {ch_send, ch_report, ch_apply,
					ch_save, ch_load,   t_takeover};

static void
ch_view(struct prepl *pp, uint8_t role)
{
	struct raft_chan_down d;

	memset(&d, 0, sizeof(d));
	d.type = RAFT_CHAN_VIEW;
	d.partition = RAFT_CHAN_ALL;
	d.u.view.ctl_incarnation = 1;
	d.u.view.seq = 1;
	d.u.view.dp_incarnation = 1;
	d.u.view.term = 3;
	d.u.view.caught_up_incarnation = 1;
	d.u.view.role = role;
	d.u.view.leader = 0;
	d.u.view.voters = 0x01; /* the leader commits alone */
	d.u.view.counted = 0x01;
	d.u.view.learners = 0x02;
	prepl_chan(pp, &d, 100);
}

/*
 * A leader whose ring compacted sends its 40-byte snapshot to a learner
 * with an empty log in chunks of 8, through a network that loses every
 * third message: chunks are answered with SNAPSHOT_REPLY, lost ones are
 * resent on heartbeats, and the learner installs exactly the saved image,
 * then takes the tail and commits what the leader committed.
 */
static void
test_snapshot_in_chunks(void **state)
{
	struct prepl_config cfg = {.partition = 0,
				   .heartbeat_ms = 20,
				   .log = {.entries_max = 8,
					   .batch_max = 2,
					   .inflight_max = 2,
					   .snapshot_max = 64,
					   .chunk_max = 8}};
	struct ch_node a = {0}, b = {0};
	struct prepl *ld, *fl;
	struct lock_entry e;
	uint64_t now = 100;
	unsigned i, rounds = 0;

	(void)state;
	memset(&ch_net, 0, sizeof(ch_net));
	cfg.id = 0;
	ld = prepl_create(&cfg, &ch_ops, &a, 1);
	cfg.id = 1;
	fl = prepl_create(&cfg, &ch_ops, &b, 1);
	assert_non_null(ld);
	assert_non_null(fl);
	ch_view(ld, RAFT_VIEW_LEADER);
	ch_view(fl, RAFT_VIEW_FOLLOWER);
	assert_true(prepl_is_leader(ld));
	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	/* Proposals while the learner hears nothing: the ring compacts. */
	for (i = 0; i < 20; i++) {
		assert_true(prepl_propose(ld, &e, now) > 0);
		(void)prepl_tick(ld, now);
	}
	ch_net.n = 0;
	assert_true(ld->log->snap_index > 1);
	assert_int_equal(ld->log->commit, 21);
	while (fl->log->commit < ld->log->commit && rounds++ < 1000) {
		struct raft_msg m;

		if (ch_net.n == 0) {
			now += 20; /* a heartbeat period */
			(void)prepl_tick(ld, now);
			continue;
		}
		m = ch_net.q[0];
		memmove(&ch_net.q[0], &ch_net.q[1],
			--ch_net.n * sizeof(ch_net.q[0]));
		prepl_recv(m.to == 0 ? ld : fl, &m, now);
	}
	assert_int_equal(fl->log->commit, ld->log->commit);
	assert_int_equal(b.loads, 1);
	assert_int_equal(b.applied, a.applied);
	assert_true(ch_net.chunks >= 5);
	assert_true(ch_net.chunk_replies >= 4);
	assert_true(ch_net.dropped > 0);
	prepl_destroy(ld);
	prepl_destroy(fl);
}

/* ---- a snapshot pulled in chunks ---- */

#define PN_QUEUE 512

/* A bag of messages: one in five lost, one in eight duplicated, taken in
 * random order (xorshift64, seeded per run). During phase 1 only the
 * first chunk the leader sends to node 1 reaches it. */
static struct {
	struct raft_msg q[PN_QUEUE];
	unsigned n, dropped, duplicated, pulled_chunks, pulls, pull_replies;
	uint64_t rng;
	bool phase1;
	bool leader_chunk_given;
} pn_net;

static uint64_t
pn_rand(void)
{
	pn_net.rng ^= pn_net.rng << 13;
	pn_net.rng ^= pn_net.rng >> 7;
	pn_net.rng ^= pn_net.rng << 17;
	return pn_net.rng;
}

static void
pn_put(const struct raft_msg *m)
{
	if (pn_net.n < PN_QUEUE)
		pn_net.q[pn_net.n++] = *m;
}

static void
pn_send(void *ctx, const struct raft_msg *m)
{
	unsigned r;

	(void)ctx;
	if (pn_net.phase1) {
		/* Node 2 hears everything; node 1 one leader chunk. */
		if (m->to == 2 || m->from == 2)
			pn_put(m);
		else if (m->to == 1 && m->type == RAFT_MSG_SNAPSHOT &&
			 m->u.snapshot.offset == 0 &&
			 !pn_net.leader_chunk_given) {
			pn_net.leader_chunk_given = true;
			pn_put(m);
		}
		return;
	}
	if (m->type == RAFT_MSG_SNAPSHOT) {
		assert_true(m->u.snapshot.flags & RAFT_SNAPSHOT_F_PULLED);
		pn_net.pulled_chunks++;
	}
	pn_net.pulls += m->type == RAFT_MSG_PULL;
	pn_net.pull_replies += m->type == RAFT_MSG_PULL_REPLY;
	r = (unsigned)(pn_rand() % 40);
	if (r < 8) {
		pn_net.dropped++;
		return;
	}
	pn_put(m);
	if (r >= 35) {
		pn_net.duplicated++;
		pn_put(m);
	}
}

static bool
pn_take(struct raft_msg *out)
{
	unsigned i;

	if (pn_net.n == 0)
		return false;
	i = (unsigned)(pn_rand() % pn_net.n);
	*out = pn_net.q[i];
	pn_net.q[i] = pn_net.q[--pn_net.n];
	return true;
}

static const struct prepl_ops pn_ops = {pn_send, ch_report, ch_apply,
					ch_save, ch_load,   t_takeover};

static void
pn_view(struct prepl *pp, uint64_t seq, uint64_t term, uint8_t role,
	uint8_t leader, uint8_t voters, uint8_t learners, uint64_t now)
{
	struct raft_chan_down d;

	memset(&d, 0, sizeof(d));
	d.type = RAFT_CHAN_VIEW;
	d.partition = RAFT_CHAN_ALL;
	d.u.view.ctl_incarnation = 1;
	d.u.view.seq = seq;
	d.u.view.dp_incarnation = 1;
	d.u.view.term = term;
	d.u.view.caught_up_incarnation = 1;
	d.u.view.role = role;
	d.u.view.leader = leader;
	d.u.view.voters = voters;
	d.u.view.counted = voters;
	d.u.view.learners = learners;
	prepl_chan(pp, &d, now);
}

/* The control plane of node 1 asks its worker to pull from node 2. */
static void
pn_chan_pull(struct prepl *pp, uint64_t now)
{
	struct raft_chan_down d;

	memset(&d, 0, sizeof(d));
	d.type = RAFT_CHAN_PULL;
	d.partition = 0;
	d.u.pull.from = 2;
	prepl_chan(pp, &d, now);
}

/* Leader 2 (term 5, alone) proposes until its ring compacts again. */
static void
pn_compact_again(struct prepl *c, uint64_t *now)
{
	uint64_t before = c->log->snap_index;
	struct lock_entry e;
	unsigned i;

	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	for (i = 0; i < 40 && c->log->snap_index == before; i++) {
		(void)prepl_propose(c, &e, *now);
		*now += 1;
		(void)prepl_tick(c, *now);
	}
	assert_true(c->log->snap_index > before);
}

/*
 * Seed 8064 of the simulator (docs/raft.md, "Pulling a snapshot"): node
 * 1 lost its leader (node 0) after the first chunk of the leader's
 * snapshot; node 2 holds the leader's committed state in its own
 * snapshot. Node 1's control plane, refused by node 2, has its worker
 * pull from node 2: the PULL is answered with node 2's snapshot in
 * chunks, a window at a time, through a network that loses, duplicates
 * and reorders; lost ones cost a heartbeat (the puller resends its PULL
 * with the bytes it holds). Midway node 2 compacts again (it leads term
 * 5 alone): the transfer restarts with the new snapshot. Node 1 installs
 * it once, never acknowledges anything, pulls the entries after it and
 * ends with node 2's state and commit index; then a PULL from a puller
 * past the snapshot is answered with entries, as before.
 */
static void
run_pull_snapshot(uint64_t seed)
{
	struct prepl_config cfg = {.partition = 0,
				   .heartbeat_ms = 20,
				   .log = {.entries_max = 8,
					   .batch_max = 2,
					   .inflight_max = 2,
					   .snapshot_max = 64,
					   .chunk_max = 8}};
	struct ch_node a = {0}, b = {0}, c = {0};
	struct prepl *ld, *pu, *src;
	struct lock_entry e;
	struct raft_msg m;
	uint64_t now = 100;
	unsigned i, steps = 0, rounds = 0;
	bool changed = false;

	memset(&pn_net, 0, sizeof(pn_net));
	pn_net.rng = seed;
	pn_net.phase1 = true;
	cfg.id = 0;
	ld = prepl_create(&cfg, &pn_ops, &a, 1);
	cfg.id = 1;
	pu = prepl_create(&cfg, &pn_ops, &b, 1);
	cfg.id = 2;
	src = prepl_create(&cfg, &pn_ops, &c, 1);
	assert_non_null(ld);
	assert_non_null(pu);
	assert_non_null(src);

	/* Phase 1: leader 0 of term 3 commits alone and compacts; node 2
	 * follows it completely, node 1 gets one chunk of its snapshot. */
	pn_view(ld, 1, 3, RAFT_VIEW_LEADER, 0, 0x01, 0x06, now);
	pn_view(pu, 1, 3, RAFT_VIEW_FOLLOWER, 0, 0x01, 0x06, now);
	pn_view(src, 1, 3, RAFT_VIEW_FOLLOWER, 0, 0x01, 0x06, now);
	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	for (i = 0; i < 20; i++) {
		assert_true(prepl_propose(ld, &e, now) > 0);
		(void)prepl_tick(ld, now);
	}
	pn_net.n = 0;
	pn_net.leader_chunk_given = false;
	assert_true(ld->log->snap_index > 1);
	while (src->log->commit < ld->log->commit && steps++ < 1000) {
		if (!pn_take(&m)) {
			now += 20;
			(void)prepl_tick(ld, now);
			continue;
		}
		prepl_recv(m.to == 0 ? ld : m.to == 1 ? pu : src, &m, now);
	}
	assert_int_equal(src->log->commit, ld->log->commit);
	assert_true(src->log->snap_index > 0);
	assert_int_equal(pu->log->rx_have, 8); /* one chunk of 8 */
	assert_int_equal(pu->log->rx_from, RAFT_NONE);
	assert_int_equal(pu->log->commit, 0);

	/* Phase 2: node 0 is dead; nodes 1 and 2 know no leader. */
	pn_net.phase1 = false;
	pn_net.n = 0;
	pn_view(pu, 2, 4, RAFT_VIEW_NONE, RAFT_NONE, 0x07, 0, now);
	pn_view(src, 2, 4, RAFT_VIEW_NONE, RAFT_NONE, 0x07, 0, now);
	pn_chan_pull(pu, now);
	steps = 0;
	while (pu->log->commit < src->log->commit && steps++ < 20000) {
		if (!pn_take(&m)) {
			now += 20; /* a heartbeat: the puller resends */
			(void)prepl_tick(pu, now);
			(void)prepl_tick(src, now);
			if (pn_net.n == 0 && pu->pull_from == RAFT_NONE) {
				/* Its resends gave up: the next refused
				 * pre-vote pulls again. */
				rounds++;
				pn_chan_pull(pu, now);
			}
			continue;
		}
		/* Pulled state is never acknowledged to anyone. */
		assert_true(m.type == RAFT_MSG_PULL ||
			    m.type == RAFT_MSG_PULL_REPLY ||
			    m.type == RAFT_MSG_SNAPSHOT);
		prepl_recv(m.to == 1 ? pu : src, &m, now);
		if (!changed && pu->log->rx_from == 2 &&
		    pu->log->rx_have >= 16) {
			/* Node 2 wins term 5 alone and compacts again. */
			changed = true;
			pn_view(src, 3, 5, RAFT_VIEW_LEADER, 2, 0x04, 0, now);
			assert_true(prepl_is_leader(src));
			pn_compact_again(src, &now);
		}
	}
	assert_true(steps < 20000); /* converged, not cut off */
	assert_true(changed);
	assert_int_equal(pu->log->commit, src->log->commit);
	assert_int_equal(b.loads, 1);
	assert_int_equal(b.applied, c.applied);
	assert_true(pn_net.pulled_chunks > 64 / 8);
	assert_true(pn_net.dropped > 0);
	assert_true(pn_net.duplicated > 0);
	assert_false(prepl_is_leader(pu));
	assert_int_equal(t_out.takeovers, 2); /* nodes 0 and 2, never 1 */

	/* Past the snapshot: a new entry at node 2 comes as entries. */
	pn_net.n = 0;
	pn_net.pulled_chunks = 0;
	pn_net.pull_replies = 0;
	while (pn_net.rng % 40 < 8 || pn_net.rng % 40 >= 35)
		(void)pn_rand(); /* the next send is neither lost nor doubled */
	assert_true(prepl_propose(src, &e, now) > 0);
	(void)prepl_tick(src, now + 1);
	now += 2;
	pn_chan_pull(pu, now);
	for (steps = 0; steps < 100 && pu->log->commit < src->log->commit;
	     steps++) {
		if (!pn_take(&m)) {
			now += 20;
			pn_chan_pull(pu, now);
			continue;
		}
		prepl_recv(m.to == 1 ? pu : src, &m, now);
	}
	assert_int_equal(pu->log->commit, src->log->commit);
	assert_int_equal(pn_net.pulled_chunks, 0);
	assert_true(pn_net.pull_replies > 0);
	assert_int_equal(b.loads, 1);
	(void)rounds;
	prepl_destroy(ld);
	prepl_destroy(pu);
	prepl_destroy(src);
}

static void
test_pull_snapshot_in_chunks(void **state)
{
	uint64_t seed;

	(void)state;
	for (seed = 1; seed <= 20; seed++) {
		memset(&t_out, 0, sizeof(t_out));
		run_pull_snapshot(seed * 0x9e3779b97f4a7c15ull);
	}
}

/*
 * The rules of pulling still hold for snapshots: a leader, or a worker
 * with amnesia, takes no pulled chunk; nor does a follower of a leader
 * (that leader's transfer owns the receive buffer).
 */
static void
test_pull_snapshot_rules(void **state)
{
	struct prepl *pp = t_prepl(1);
	struct raft_msg m;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_SNAPSHOT;
	m.from = 2;
	m.to = 1;
	m.term = 9;
	m.u.snapshot.index = 5;
	m.u.snapshot.term = 2;
	m.u.snapshot.total = 1;
	m.u.snapshot.len = 1;
	m.u.snapshot.done = 1;
	m.u.snapshot.flags = RAFT_SNAPSHOT_F_PULLED;
	m.u.snapshot.incarnation = 4;
	/* Leading: not taken. */
	t_view(pp, 1, 1, 3, RAFT_VIEW_LEADER, 1);
	assert_true(prepl_is_leader(pp));
	prepl_recv(pp, &m, 100);
	assert_int_equal(pp->log->last, 1); /* its no-op only */
	assert_int_equal(pp->log->snap_index, 0);
	/* Amnesic (restarted, not yet caught up): not taken, not served. */
	prepl_restart(pp, 110, 2);
	t_view(pp, 2, 2, 3, RAFT_VIEW_NONE, RAFT_NONE);
	assert_true(prepl_is_amnesic(pp));
	prepl_recv(pp, &m, 110);
	assert_int_equal(pp->log->snap_index, 0);
	/* Caught up, following leader 0: its leader's transfer has the
	 * receive buffer; a pulled chunk is not taken. */
	t_view_caught(pp, 3, 2, 3, RAFT_VIEW_FOLLOWER, 0, 2);
	assert_false(prepl_is_amnesic(pp));
	prepl_recv(pp, &m, 120);
	assert_int_equal(pp->log->snap_index, 0);
	/* No leader known (a pre-candidate's view): taken, above its commit,
	 * and the higher term of the chunk is not reported as a leader's. */
	t_view_caught(pp, 4, 2, 3, RAFT_VIEW_NONE, RAFT_NONE, 2);
	t_out.rep.seen_term = 0;
	prepl_recv(pp, &m, 120);
	assert_int_equal(pp->log->snap_index, 5);
	assert_int_equal(pp->log->commit, 5);
	assert_int_equal(t_out.rep.seen_term, 0);
	prepl_destroy(pp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_snapshot_in_chunks),
		cmocka_unit_test(test_append_only_from_told_term_and_leader),
		cmocka_unit_test(test_stale_views_ignored),
		cmocka_unit_test(test_leader_commit_rules),
		cmocka_unit_test(test_new_leader_probes_silent_followers),
		cmocka_unit_test(test_lead_failed_learns_commit),
		cmocka_unit_test(test_pull_snapshot_in_chunks),
		cmocka_unit_test(test_pull_snapshot_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
