/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the control half (control/raft) composed with partition
 * replicators (dataplane/prepl) as in the product: elections with
 * pre-vote (dissertation §9.6), the vote rule across the meta log and
 * every partition log as the dataplane reports them (DESIGN.md), the
 * ordering rule (the dataplane moves to a term before a vote for it
 * leaves), check-quorum, learners that never vote (§4.2.1), the diskless
 * rule (a node whose dataplane restarted votes only after a leader caught
 * it up), the Figure 8 scenario end to end, and leader transfer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/raft_fixture.h"

#define ALL 0x1f

/* Three voters elect exactly one leader, whose workers take over each
 * partition. */
static void
test_elects_one_leader(void **state)
{
	int lead;
	unsigned i, p, leaders = 0;

	(void)state;
	fx_init(3, 3, 2);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	for (i = 0; i < 3; i++) {
		leaders += fx_state.n[i].c->role == RAFT_LEADER;
		assert_int_equal(fx_state.n[i].c->term,
				 fx_state.n[lead].c->term);
		assert_int_equal(fx_state.n[i].c->leader, lead);
		for (p = 0; p < 2; p++) {
			const struct prepl *pp = fx_state.n[i].pp[p];

			assert_int_equal(pp->view.term,
					 fx_state.n[lead].c->term);
			assert_int_equal(prepl_is_leader(pp), (int)i == lead);
		}
	}
	assert_int_equal(leaders, 1);
	assert_int_equal(fx_state.n[lead].takeovers, 2);
	fx_fini();
}

/* The vote rule: behind in any one partition log means no vote. */
static void
test_vote_rule_every_partition_log(void **state)
{
	struct raft_ctl *voter;

	(void)state;
	fx_init(3, 3, 3);
	voter = fx_state.n[1].c;
	/* Equal in the meta log and partitions 0 and 2; the voter holds
	 * one more entry in partition 1. */
	fx_put(0, 0, 1);
	fx_put(1, 0, 1);
	fx_put(1, 1, 1);
	fx_state.now = 1000;
	fx_settle(1);
	assert_false(fx_ask(fx_vote_msg(0, 1, RAFT_MSG_VOTE, 2)));
	assert_int_equal(voter->term, 2);
	assert_int_equal(voter->voted_for, RAFT_NONE);
	/* Ahead in partition 0 does not make up for behind in 1. */
	fx_put(0, 0, 1);
	assert_false(fx_ask(fx_vote_msg(0, 1, RAFT_MSG_VOTE, 3)));
	/* Caught up in partition 1: granted, and persisted. */
	fx_put(0, 1, 1);
	assert_true(fx_ask(fx_vote_msg(0, 1, RAFT_MSG_VOTE, 4)));
	assert_int_equal(voter->voted_for, 0);
	/* A higher last term in a partition log wins over a longer log. */
	fx_put(2, 2, 1);
	fx_put(2, 2, 1);
	fx_put(0, 2, 3);
	fx_settle(2);
	assert_true(fx_ask(fx_vote_msg(0, 2, RAFT_MSG_VOTE, 4)));
	fx_fini();
}

/*
 * The ordering rule (DESIGN.md, "the local dataplane is moved to the new
 * term before the vote leaves"): a VOTE for a new term is answered only
 * after the voter's dataplane applied a view of that term and reported;
 * from then on it refuses the old term's APPENDs.
 */
static void
test_vote_waits_for_dataplane(void **state)
{
	struct raft_msg m = {0};
	struct fx_node *v;
	unsigned k;

	(void)state;
	fx_init(3, 3, 2);
	v = &fx_state.n[1];
	fx_state.now = 1000;
	fx_settle(1);
	assert_int_equal(v->pp[0]->view.term, 0);
	m = fx_vote_msg(0, 1, RAFT_MSG_VOTE, 5);
	fx_state.out_n = 0;
	raft_ctl_recv(v->c, &m, fx_state.now, &fx_state.eff);
	assert_int_equal(v->c->term, 5);
	assert_true(fx_state.eff.persist_term_vote);
	/* No reply yet: only the view of term 5 went out. */
	assert_null(fx_find(RAFT_MSG_VOTE_REPLY, 1));
	for (k = 0; k < fx_state.out_n; k++)
		assert_int_not_equal(fx_state.out[k].kind, FX_NET);
	/* The view reaches the dataplane, but its reports do not yet. */
	assert_int_equal(fx_state.out[0].kind, FX_DOWN);
	{
		struct fx_item it = fx_take(0);

		fx_deliver(&it, ALL);
	}
	assert_int_equal(v->pp[0]->view.term, 5);
	assert_int_equal(v->pp[1]->view.term, 5);
	assert_null(fx_find(RAFT_MSG_VOTE_REPLY, 1));
	/* Reports arrive: the vote is decided and granted. */
	fx_chan_settle(1);
	assert_non_null(fx_find(RAFT_MSG_VOTE_REPLY, 1));
	assert_true(fx_find(RAFT_MSG_VOTE_REPLY, 1)->u.vote_reply.granted);
	assert_int_equal(v->c->voted_for, 0);
	fx_fini();
}

/* Pre-vote changes no term; a lone node never inflates its term. */
static void
test_prevote_keeps_term(void **state)
{
	struct raft_ctl *voter;

	(void)state;
	fx_init(3, 3, 1);
	voter = fx_state.n[1].c;
	fx_state.now = 1000;
	fx_settle(1);
	assert_true(fx_ask(fx_vote_msg(0, 1, RAFT_MSG_PREVOTE, 1)));
	assert_int_equal(voter->term, 0);
	assert_int_equal(voter->voted_for, RAFT_NONE);
	/* Node 0 cut off: it times out again and again as pre-candidate. */
	fx_run(2000, 0x01);
	assert_int_equal(fx_state.n[0].c->term, 0);
	assert_int_equal(fx_state.n[0].c->role, RAFT_PRECANDIDATE);
	fx_fini();
}

/* A follower that hears from its leader refuses pre-votes (stickiness). */
static void
test_prevote_refused_while_leader_alive(void **state)
{
	int lead;
	unsigned other;

	(void)state;
	fx_init(3, 3, 1);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	other = lead == 1 ? 2 : 1;
	assert_false(
		fx_ask(fx_vote_msg(lead == 0 ? 2 : 0, other, RAFT_MSG_PREVOTE,
				   fx_state.n[other].c->term + 1)));
	fx_fini();
}

/* Check-quorum: a leader cut off from its followers steps down, and its
 * workers stop leading. */
static void
test_check_quorum(void **state)
{
	int lead;

	(void)state;
	fx_init(3, 3, 1);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	fx_run(400, (uint8_t)(1u << lead));
	assert_int_not_equal(fx_state.n[lead].c->role, RAFT_LEADER);
	assert_false(prepl_is_leader(fx_state.n[lead].pp[0]));
	fx_fini();
}

/*
 * Failure detection from the dataplane's reports: the leader's latchd
 * dies (its workers tick no more, report nothing, send and take nothing)
 * while its latch-control runs on and keeps the meta log's heartbeats
 * going. The control plane must notice from the missing reports within
 * an election timeout and step down, so the others elect a leader whose
 * dataplane serves; without it the cluster would keep a leader that
 * grants nothing.
 */
static void
test_leader_steps_down_when_its_dataplane_is_silent(void **state)
{
	int lead, next;
	unsigned i, k;

	(void)state;
	fx_init(3, 3, 1);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	for (k = 0; k < 100; k++) { /* 500 ms in 5 ms ticks */
		fx_state.now += 5;
		for (i = 0; i < 3; i++) {
			memset(&fx_state.eff, 0, sizeof(fx_state.eff));
			raft_ctl_tick(fx_state.n[i].c, fx_state.now,
				      &fx_state.eff);
			if ((int)i != lead)
				prepl_tick(fx_state.n[i].pp[0], fx_state.now);
		}
		while (fx_state.out_n > 0) {
			struct fx_item it = fx_take(0);
			bool dead_dp =
				it.kind == FX_NET
					? fx_is_dataplane(&it.m) &&
						  ((int)it.m.to == lead ||
						   (int)it.m.from == lead)
					: (int)it.node == lead;

			if (!dead_dp)
				fx_deliver(&it, ALL);
		}
		if (k == 30) /* 150 ms: more than an election timeout */
			assert_int_not_equal(fx_state.n[lead].c->role,
					     RAFT_LEADER);
	}
	next = fx_leader();
	assert_true(next >= 0);
	assert_int_not_equal(next, lead);
	assert_true(prepl_is_leader(fx_state.n[next].pp[0]));
	fx_fini();
}

/* Three voters with @parts partitions elect a leader: its id, and the
 * two followers' in @a and @b. */
static int
fx_elect3(unsigned parts, unsigned *a, unsigned *b)
{
	int lead;

	fx_init(3, 3, parts);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	*a = lead == 0 ? 1 : 0;
	*b = lead == 2 ? 1 : 2;
	return lead;
}

/* The leader among @a and @b, or -1 (a dead leader's state still says
 * leader, so fx_leader() cannot tell). */
static int
fx_leader_of(unsigned a, unsigned b)
{
	if (fx_state.n[a].c->role == RAFT_LEADER)
		return (int)a;
	if (fx_state.n[b].c->role == RAFT_LEADER)
		return (int)b;
	return -1;
}

/* Tell node @i that peer @gone's process is gone, and carry the step. */
static void
fx_peer_gone(unsigned i, unsigned gone)
{
	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	raft_ctl_peer_gone(fx_state.n[i].c, (uint8_t)gone, fx_state.now,
			   &fx_state.eff);
}

/*
 * The leader's process dies and its host says so (ICMP port unreachable
 * to the followers' beacons): the followers elect a new leader within a
 * few heartbeats (20 ms each here), before the election timeout (100 ms
 * from the old leader's last heartbeat, at most 20 ms before the kill)
 * could. The first follower to learn it is refused by the other, still
 * sticky, and asks again soon after the other learned it too.
 */
static void
test_leader_gone_elects_at_once(void **state)
{
	uint8_t up;
	uint64_t term;
	int lead, next;
	unsigned a, b;

	(void)state;
	lead = fx_elect3(1, &a, &b);
	term = fx_state.n[lead].c->term;
	up = (uint8_t)(ALL & ~(1u << lead));
	fx_peer_gone(a, (unsigned)lead);
	/* Campaigns within a heartbeat (20 ms here), refused by b. */
	fx_run(25, up);
	assert_int_equal(fx_state.n[a].c->role, RAFT_PRECANDIDATE);
	assert_int_equal(fx_state.n[b].c->role, RAFT_FOLLOWER);
	assert_int_equal(fx_state.n[b].c->leader, lead);
	fx_peer_gone(b, (unsigned)lead);
	fx_run(50, up);
	next = fx_leader_of(a, b);
	assert_true(next >= 0);
	assert_true(fx_state.n[next].c->term > term);
	assert_true(prepl_is_leader(fx_state.n[next].pp[0]));
	fx_fini();
}

/*
 * The leader dies with its last entries on different followers: a holds
 * one more in partition 0, b one more in partition 1, so each refuses the
 * other's pre-vote. Each pulls what it lacks and, on the quick path, asks
 * again a few heartbeats later rather than an election timeout later.
 */
static void
test_leader_gone_with_crossed_logs(void **state)
{
	uint8_t up;
	uint64_t term;
	int lead, next;
	unsigned a, b;

	(void)state;
	lead = fx_elect3(2, &a, &b);
	term = fx_state.n[lead].c->term;
	up = (uint8_t)(ALL & ~(1u << lead));
	fx_put(a, 0, term);
	fx_put(b, 1, term);
	fx_settle(a);
	fx_settle(b);
	fx_peer_gone(a, (unsigned)lead);
	fx_peer_gone(b, (unsigned)lead);
	fx_run(75, up);
	next = fx_leader_of(a, b);
	assert_true(next >= 0);
	assert_true(fx_state.n[next].c->term > term);
	/* The winner pulled the entry only the other held. */
	assert_int_equal(plog_last_pos(fx_state.n[next].pp[0]->log).index,
			 plog_last_pos(fx_state.n[a].pp[0]->log).index);
	assert_int_equal(plog_last_pos(fx_state.n[next].pp[1]->log).index,
			 plog_last_pos(fx_state.n[b].pp[1]->log).index);
	fx_fini();
}

/*
 * The first campaign after the leader's death is staggered by rank, with
 * no random part: the survivor of the lowest id stands the moment it
 * learns, the next one a beacon period and a ms later.
 */
static void
test_leader_gone_first_rank_stands_at_once(void **state)
{
	const struct raft_ctl *c;
	int lead;
	unsigned a, b, k;

	(void)state;
	for (k = 0; k < 8; k++) {
		lead = fx_elect3(1 + k % 2, &a, &b);
		fx_state.now += k;
		fx_peer_gone(a, (unsigned)lead);
		assert_int_equal(fx_state.n[a].c->role, RAFT_PRECANDIDATE);
		fx_peer_gone(b, (unsigned)lead);
		c = fx_state.n[b].c;
		assert_int_equal(c->role, RAFT_FOLLOWER);
		assert_int_equal(c->election_deadline,
				 fx_state.now + raft_beacon_ms(c) + 1);
		fx_fini();
	}
}

/* @a asks @b for a pre-vote for the next term, and @b refuses it; the
 * step's effects stay in fx_state.eff. */
static struct raft_msg
fx_prevote_refused(unsigned a, unsigned b)
{
	const struct raft_msg *rep;
	struct raft_msg m;

	m = fx_vote_msg(a, b, RAFT_MSG_PREVOTE, fx_state.n[b].c->term + 1);
	fx_state.out_n = 0;
	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	raft_ctl_recv(fx_state.n[b].c, &m, fx_state.now, &fx_state.eff);
	rep = fx_find(RAFT_MSG_PREVOTE_REPLY, b);
	assert_non_null(rep);
	assert_false(rep->u.vote_reply.granted);
	return m;
}

/* @b, told its leader is gone, is asked by @a for a pre-vote and refuses:
 * @a is behind it (@b's workers reported the entries @a lacks). Returns
 * the time b's next tick is due. */
static uint64_t
fx_refuse_behind(unsigned a, unsigned b, int lead)
{
	fx_peer_gone(b, (unsigned)lead);
	/* b ranks after a: its turn is a stagger away. */
	assert_true(fx_state.eff.timer_ms > fx_state.now);
	/* Its workers apply the view and report their logs. */
	fx_chan_settle(b);
	(void)fx_prevote_refused(a, b);
	return fx_state.eff.timer_ms;
}

/*
 * The survivor that is ahead stands as soon as it refuses the pre-vote of
 * the one behind it, not at its staggered turn: the other cannot win
 * without its entries. With crossed logs (each ahead in one partition) it
 * keeps its turn: both pull first.
 */
static void
test_refuser_ahead_stands_at_once(void **state)
{
	uint64_t term;
	int lead;
	unsigned a, b;

	(void)state;
	lead = fx_elect3(2, &a, &b);
	term = fx_state.n[lead].c->term;
	fx_put(b, 0, term);
	fx_settle(b);
	assert_int_equal(fx_refuse_behind(a, b, lead), fx_state.now);
	fx_tick(b);
	assert_int_equal(fx_state.n[b].c->role, RAFT_PRECANDIDATE);
	fx_fini();

	lead = fx_elect3(2, &a, &b);
	term = fx_state.n[lead].c->term;
	fx_put(b, 0, term);
	fx_put(a, 1, term);
	fx_settle(a);
	fx_settle(b);
	assert_true(fx_refuse_behind(a, b, lead) > fx_state.now);
	fx_tick(b);
	assert_int_equal(fx_state.n[b].c->role, RAFT_FOLLOWER);
	fx_fini();
}

/*
 * A pre-vote is decided on the reports of this term the node has, without
 * waiting for its workers to report the view change that forgetting the
 * dead leader made (a trip through every worker, as slow as the busiest);
 * a vote still waits (test_vote_waits_for_dataplane).
 */
static void
test_prevote_needs_no_fresh_report(void **state)
{
	const struct raft_msg *rep;
	struct raft_msg m;
	int lead;
	unsigned a, b;

	(void)state;
	lead = fx_elect3(2, &a, &b);
	fx_peer_gone(b, (unsigned)lead);
	/* b's new view is queued to its workers, not applied: no report. */
	m = fx_vote_msg(a, b, RAFT_MSG_PREVOTE, fx_state.n[b].c->term + 1);
	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	raft_ctl_recv(fx_state.n[b].c, &m, fx_state.now, &fx_state.eff);
	rep = fx_find(RAFT_MSG_PREVOTE_REPLY, b);
	assert_non_null(rep);
	assert_true(rep->u.vote_reply.granted);
	fx_fini();
}

/* @b refuses @a's pre-vote for the next term: its leader is still heard. */
static struct raft_msg
fx_sticky_refusal(unsigned a, unsigned b)
{
	struct raft_msg m = fx_prevote_refused(a, b);

	fx_state.out_n = 0;
	return m;
}

/*
 * A pre-vote refused only because the leader was still heard is decided
 * again the moment that leader is reported gone, within a beacon period
 * of the refusal: the pre-candidate, which learnt of the death first, is
 * granted without asking again (and waiting for its retry).
 */
static void
test_sticky_prevote_granted_when_leader_gone(void **state)
{
	const struct raft_msg *rep;
	struct raft_msg m;
	int lead;
	unsigned a, b;

	(void)state;
	lead = fx_elect3(2, &a, &b);
	m = fx_sticky_refusal(a, b);
	fx_state.now += 1;
	fx_peer_gone(b, (unsigned)lead);
	rep = fx_find(RAFT_MSG_PREVOTE_REPLY, b);
	assert_non_null(rep);
	assert_true(rep->u.vote_reply.granted);
	assert_int_equal(rep->to, a);
	assert_int_equal(rep->term, m.term);
	fx_fini();

	/* Older than a beacon period: the pre-candidate asked again or gave
	 * up meanwhile; nothing is sent. */
	lead = fx_elect3(2, &a, &b);
	(void)fx_sticky_refusal(a, b);
	fx_state.now += raft_beacon_ms(fx_state.n[b].c) + 2;
	fx_peer_gone(b, (unsigned)lead);
	assert_null(fx_find(RAFT_MSG_PREVOTE_REPLY, b));
	fx_fini();
}

/* Only the followed leader's death counts: a follower told of another
 * follower, or a leader told of a follower, changes nothing. */
static void
test_peer_gone_of_a_follower_changes_nothing(void **state)
{
	int lead;
	unsigned a, b;
	uint64_t term;

	(void)state;
	lead = fx_elect3(1, &a, &b);
	term = fx_state.n[lead].c->term;
	fx_peer_gone(a, b);
	fx_peer_gone((unsigned)lead, b);
	fx_deliver_all(ALL);
	fx_run(20, ALL);
	assert_int_equal(fx_leader(), lead);
	assert_int_equal(fx_state.n[a].c->role, RAFT_FOLLOWER);
	assert_int_equal(fx_state.n[a].c->leader, lead);
	assert_int_equal(fx_state.n[lead].c->term, term);
	fx_fini();
}

/* A learner never votes and never campaigns; once caught up it is
 * promoted and counts. */
static void
test_learner_never_votes(void **state)
{
	struct raft_ctl *learner;
	int lead;
	uint64_t term;
	struct raft_effects eff = {0};

	(void)state;
	fx_init(4, 3, 1);
	learner = fx_state.n[3].c;
	fx_state.now = 1000;
	fx_settle(3);
	assert_false(fx_ask(fx_vote_msg(0, 3, RAFT_MSG_VOTE, 1)));
	assert_false(fx_ask(fx_vote_msg(0, 3, RAFT_MSG_PREVOTE, 1)));
	term = learner->term; /* adopted from the VOTE, as any node would */
	fx_run(1000, 0x08);   /* alone: a learner stays a follower */
	assert_int_equal(learner->role, RAFT_FOLLOWER);
	assert_int_equal(learner->term, term);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0 && lead < 3);
	assert_int_equal(
		raft_ctl_add_learner(fx_state.n[lead].c, 3, fx_state.now, &eff),
		0);
	assert_false(raft_membership_is_voter(fx_state.n[lead].c, 3));
	fx_run(400, ALL);
	assert_false(raft_is_amnesic(learner));
	assert_true(raft_membership_is_voter(fx_state.n[lead].c, 3));
	assert_true(raft_membership_is_voter(learner, 3));
	fx_fini();
}

/* The diskless rule: a node whose dataplane alone restarted votes only
 * after a leader has caught it up. */
static void
test_amnesia_rule(void **state)
{
	struct fx_node *v;
	struct lock_entry e;
	int lead;
	unsigned victim, k;

	(void)state;
	fx_init(3, 3, 2);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	e.client_id = 5;
	for (k = 0; k < 6; k++)
		assert_true(prepl_propose(fx_state.n[lead].pp[k % 2], &e,
					  fx_state.now) > 0);
	fx_run(100, ALL);
	victim = lead == 0 ? 1 : 0;
	v = &fx_state.n[victim];
	for (k = 0; k < 2; k++)
		prepl_restart(v->pp[k], fx_state.now, 2);
	fx_settle(victim);
	assert_int_equal(v->c->dp_incarnation, 2);
	assert_true(raft_is_amnesic(v->c));
	assert_true(prepl_is_amnesic(v->pp[0]));
	assert_int_equal(v->pp[0]->log->last, 0);
	/* It refuses to vote even for a candidate far ahead. */
	assert_false(fx_ask(fx_vote_msg(lead, victim, RAFT_MSG_PREVOTE,
					fx_state.n[lead].c->term + 1)));
	assert_false(fx_ask(fx_vote_msg(lead, victim, RAFT_MSG_VOTE,
					fx_state.n[lead].c->term + 1)));
	/* The leader catches it up (its acks did not count meanwhile). */
	fx_state.out_n = 0;
	fx_run(400, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	assert_false(raft_is_amnesic(v->c));
	assert_int_equal(v->c->caught_up_incarnation, 2);
	assert_false(prepl_is_amnesic(v->pp[0]));
	for (k = 0; k < 2; k++)
		assert_true(v->pp[k]->log->last >=
			    fx_state.n[lead].pp[k]->log->commit);
	fx_fini();
}

/*
 * Figure 8 end to end: a new leader inherits an entry of an earlier term
 * that sits on a majority; it is committed only once the leader's own
 * no-op is (never by counting).
 */
static void
test_figure8_new_leader(void **state)
{
	struct fx_node *n0 = &fx_state.n[0];
	struct raft_msg m;
	unsigned i;

	(void)state;
	fx_init(3, 3, 1);
	/* All three hold (1, t1), (2, t2); the term is 3. */
	for (i = 0; i < 3; i++) {
		fx_put(i, 0, 1);
		fx_put(i, 0, 2);
		fx_state.n[i].c->term = 3;
	}
	fx_state.now = 1000;
	for (i = 0; i < 3; i++)
		fx_settle(i);
	/* Node 0 wins term 4 with node 1 only. */
	n0->c->election_deadline = 0;
	fx_tick(0);
	for (i = 0; i < 50 && n0->c->role != RAFT_LEADER; i++)
		fx_deliver_all(0x03);
	assert_int_equal(n0->c->role, RAFT_LEADER);
	assert_int_equal(n0->c->term, 4);
	fx_deliver_all(0x01); /* the leader view reaches its dataplane */
	assert_true(prepl_is_leader(n0->pp[0]));
	assert_int_equal(n0->pp[0]->log->term_start, 3);
	/* Node 1's worker acks index 2 (term 2) but not the no-op. */
	memset(&m, 0, sizeof(m));
	m.type = RAFT_MSG_APPEND_REPLY;
	m.from = 1;
	m.to = 0;
	m.log = 0;
	m.term = 4;
	m.u.append_reply.index = 2;
	m.u.append_reply.success = 1;
	m.u.append_reply.incarnation = 1;
	fx_state.out_n = 0;
	prepl_recv(n0->pp[0], &m, fx_state.now);
	assert_int_equal(n0->pp[0]->log->commit, 0);
	assert_int_equal(n0->takeovers, 0);
	fx_run(100, 0x03);
	assert_int_equal(n0->pp[0]->log->commit, 3);
	assert_int_equal(n0->takeovers, 1);
	fx_fini();
}

/* Leader transfer: the target becomes leader in the next term, and the
 * old leader's workers refuse proposals meanwhile. */
static void
test_leader_transfer(void **state)
{
	struct raft_effects eff = {0};
	struct lock_entry e;
	int lead;
	unsigned target;
	uint64_t term;

	(void)state;
	fx_init(3, 3, 1);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	term = fx_state.n[lead].c->term;
	target = (unsigned)(lead + 1) % 3;
	assert_int_equal(raft_ctl_transfer(fx_state.n[lead].c, (uint8_t)target,
					   fx_state.now, &eff),
			 0);
	fx_deliver_all(ALL);
	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	assert_int_equal(
		prepl_propose(fx_state.n[lead].pp[0], &e, fx_state.now),
		-EBUSY);
	fx_run(100, ALL);
	assert_int_equal(fx_leader(), (int)target);
	assert_int_equal(fx_state.n[target].c->term, term + 1);
	fx_fini();
}

/* A control-plane restart keeps the term; the dataplane keeps its log
 * and obeys only the new control plane's views. */
static void
test_control_restart(void **state)
{
	struct raft_effects eff = {0};
	struct fx_node *v;
	int lead;
	uint64_t term, last;

	(void)state;
	fx_init(3, 3, 1);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	v = &fx_state.n[lead == 0 ? 1 : 0];
	term = v->c->term;
	last = v->pp[0]->log->last;
	assert_true(last > 0);
	raft_ctl_restart(v->c, fx_state.now, 2, &eff);
	assert_int_equal(v->c->term, term);
	assert_int_equal(v->c->dp_incarnation, 0);
	fx_run(200, ALL);
	assert_int_equal(v->c->dp_incarnation, 1);
	assert_false(raft_is_amnesic(v->c));
	assert_int_equal(v->pp[0]->view.ctl_incarnation, 2);
	assert_true(v->pp[0]->log->last >= last);
	fx_fini();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elects_one_leader),
		cmocka_unit_test(test_vote_rule_every_partition_log),
		cmocka_unit_test(test_vote_waits_for_dataplane),
		cmocka_unit_test(test_prevote_keeps_term),
		cmocka_unit_test(test_prevote_refused_while_leader_alive),
		cmocka_unit_test(test_check_quorum),
		cmocka_unit_test(
			test_leader_steps_down_when_its_dataplane_is_silent),
		cmocka_unit_test(test_leader_gone_elects_at_once),
		cmocka_unit_test(test_leader_gone_with_crossed_logs),
		cmocka_unit_test(test_refuser_ahead_stands_at_once),
		cmocka_unit_test(test_leader_gone_first_rank_stands_at_once),
		cmocka_unit_test(test_prevote_needs_no_fresh_report),
		cmocka_unit_test(test_peer_gone_of_a_follower_changes_nothing),
		cmocka_unit_test(test_sticky_prevote_granted_when_leader_gone),
		cmocka_unit_test(test_learner_never_votes),
		cmocka_unit_test(test_amnesia_rule),
		cmocka_unit_test(test_figure8_new_leader),
		cmocka_unit_test(test_leader_transfer),
		cmocka_unit_test(test_control_restart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
