/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the Raft node's rules (control/raft): elections with
 * pre-vote (dissertation §9.6), the vote rule across the meta log and
 * every partition log (DESIGN.md), check-quorum, learners that never vote
 * (§4.2.1), the diskless rule (a node with amnesia votes only after a
 * leader caught it up), the Figure 8 scenario end to end (a new leader
 * commits earlier-term entries only through its own), and leader transfer.
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

/* Three voters elect exactly one leader, which takes over each partition. */
static void
test_elects_one_leader(void **state)
{
	int lead;
	unsigned i, leaders = 0;

	(void)state;
	fx_init(3, 3, 2);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	for (i = 0; i < 3; i++) {
		leaders += fx_state.n[i].r->role == RAFT_LEADER;
		assert_int_equal(fx_state.n[i].r->term,
				 fx_state.n[lead].r->term);
		assert_int_equal(fx_state.n[i].r->leader, lead);
	}
	assert_int_equal(leaders, 1);
	assert_int_equal(fx_state.n[lead].takeovers, 2);
	fx_fini();
}

/* The vote rule: behind in any one partition log means no vote. */
static void
test_vote_rule_every_partition_log(void **state)
{
	struct raft *cand, *voter;

	(void)state;
	fx_init(3, 3, 3);
	cand = fx_state.n[0].r;
	voter = fx_state.n[1].r;
	/* Equal in the meta log and partitions 0 and 2; the voter holds
	 * one more entry in partition 1. */
	fx_put(cand, 0, 1);
	fx_put(voter, 0, 1);
	fx_put(voter, 1, 1);
	cand->term = 1;
	voter->term = 1;
	fx_state.now = 1000;
	assert_false(fx_ask(fx_vote_msg(0, 1, RAFT_MSG_VOTE, 2)));
	assert_int_equal(voter->voted_for, RAFT_NONE);
	/* Ahead in partition 0 does not make up for behind in 1. */
	fx_put(cand, 0, 1);
	assert_false(fx_ask(fx_vote_msg(0, 1, RAFT_MSG_VOTE, 3)));
	/* Caught up in partition 1: granted, and persisted. */
	fx_put(cand, 1, 1);
	assert_true(fx_ask(fx_vote_msg(0, 1, RAFT_MSG_VOTE, 4)));
	assert_int_equal(voter->voted_for, 0);
	assert_true(fx_state.eff.persist_term_vote);
	/* A higher last term in a partition log wins over a longer log. */
	fx_put(voter, 2, 1);
	fx_put(voter, 2, 1);
	fx_put(cand, 2, 3);
	assert_true(fx_ask(fx_vote_msg(0, 2, RAFT_MSG_VOTE, 4)) ||
		    fx_state.n[2].r->voted_for == 0);
	fx_fini();
}

/* Pre-vote changes no term; a lone node never inflates its term. */
static void
test_prevote_keeps_term(void **state)
{
	struct raft *voter;

	(void)state;
	fx_init(3, 3, 1);
	voter = fx_state.n[1].r;
	fx_state.now = 1000;
	assert_true(fx_ask(fx_vote_msg(0, 1, RAFT_MSG_PREVOTE, 1)));
	assert_int_equal(voter->term, 0);
	assert_int_equal(voter->voted_for, RAFT_NONE);
	/* Node 0 cut off: it times out again and again as pre-candidate. */
	fx_run(2000, 0x01);
	assert_int_equal(fx_state.n[0].r->term, 0);
	assert_int_equal(fx_state.n[0].r->role, RAFT_PRECANDIDATE);
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
				   fx_state.n[other].r->term + 1)));
	fx_fini();
}

/* Check-quorum: a leader cut off from its followers steps down. */
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
	assert_int_not_equal(fx_state.n[lead].r->role, RAFT_LEADER);
	fx_fini();
}

/* A learner never votes and never campaigns; once caught up it is
 * promoted and counts. */
static void
test_learner_never_votes(void **state)
{
	struct raft *learner;
	int lead;
	uint64_t term;
	struct raft_effects eff = {0};

	(void)state;
	fx_init(4, 3, 1);
	learner = fx_state.n[3].r;
	fx_state.now = 1000;
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
		raft_add_learner(fx_state.n[lead].r, 3, fx_state.now, &eff), 0);
	assert_false(raft_membership_is_voter(fx_state.n[lead].r, 3));
	fx_run(400, ALL);
	assert_false(raft_is_amnesic(learner));
	assert_true(raft_membership_is_voter(fx_state.n[lead].r, 3));
	assert_true(raft_membership_is_voter(learner, 3));
	fx_fini();
}

/* The diskless rule: a node whose dataplane restarted votes only after
 * a leader has caught it up. */
static void
test_amnesia_rule(void **state)
{
	struct raft *r;
	struct raft_effects eff = {0};
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
	for (k = 0; k < 5; k++)
		assert_true(raft_propose(fx_state.n[lead].r, k % 2, &e,
					 fx_state.now, &eff) > 0);
	fx_run(100, ALL);
	victim = lead == 0 ? 1 : 0;
	r = fx_state.n[victim].r;
	raft_restart(r, fx_state.now, 2, true, &eff);
	assert_true(raft_is_amnesic(r));
	assert_int_equal(r->log[0]->last, 0);
	/* It refuses to vote even for a candidate far ahead. */
	assert_false(fx_ask(fx_vote_msg(lead, victim, RAFT_MSG_PREVOTE,
					fx_state.n[lead].r->term + 1)));
	assert_false(fx_ask(fx_vote_msg(lead, victim, RAFT_MSG_VOTE,
					fx_state.n[lead].r->term + 1)));
	/* Its acks do not count while amnesic; the leader catches it up. */
	fx_state.out_n = 0;
	fx_run(200, ALL);
	assert_false(raft_is_amnesic(r));
	assert_true(r->log[0]->last >= fx_state.n[lead].r->log[0]->commit);
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
	struct raft *r;
	unsigned i;

	(void)state;
	fx_init(3, 3, 1);
	/* All three hold (1, t1), (2, t2); the term is 3. */
	for (i = 0; i < 3; i++) {
		r = fx_state.n[i].r;
		fx_put(r, 0, 1);
		fx_put(r, 0, 2);
		r->term = 3;
	}
	/* Node 0 wins term 4 with only its own vote delivered late. */
	fx_state.now = 1000;
	r = fx_state.n[0].r;
	memset(&fx_state.eff, 0, sizeof(fx_state.eff));
	fx_state.n[0].r->election_deadline = 0;
	fx_tick(0);
	fx_deliver_all(0x03); /* pre-vote and vote with node 1 only */
	assert_int_equal(r->role, RAFT_LEADER);
	assert_int_equal(r->term, 4);
	/* Node 1's first reply acks index 2 (term 2) but not the no-op. */
	{
		struct raft_msg m;

		memset(&m, 0, sizeof(m));
		m.type = RAFT_MSG_APPEND_REPLY;
		m.from = 1;
		m.to = 0;
		m.term = 4;
		m.u.append_reply.index = 2;
		m.u.append_reply.success = 1;
		m.u.append_reply.incarnation = 1;
		fx_state.out_n = 0;
		raft_recv(r, &m, fx_state.now, &fx_state.eff);
	}
	assert_int_equal(r->log[0]->commit, 0);
	assert_int_equal(fx_state.n[0].takeovers, 0);
	fx_run(50, 0x03);
	assert_int_equal(r->log[0]->commit, 3);
	assert_int_equal(fx_state.n[0].takeovers, 1);
	fx_fini();
}

/* Leader transfer: the target becomes leader in the next term. */
static void
test_leader_transfer(void **state)
{
	struct raft_effects eff = {0};
	int lead;
	unsigned target;
	uint64_t term;

	(void)state;
	fx_init(3, 3, 1);
	fx_run(600, ALL);
	lead = fx_leader();
	assert_true(lead >= 0);
	term = fx_state.n[lead].r->term;
	target = (unsigned)(lead + 1) % 3;
	assert_int_equal(raft_transfer(fx_state.n[lead].r, (uint8_t)target,
				       fx_state.now, &eff),
			 0);
	fx_run(100, ALL);
	assert_int_equal(fx_leader(), (int)target);
	assert_int_equal(fx_state.n[target].r->term, term + 1);
	fx_fini();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elects_one_leader),
		cmocka_unit_test(test_vote_rule_every_partition_log),
		cmocka_unit_test(test_prevote_keeps_term),
		cmocka_unit_test(test_prevote_refused_while_leader_alive),
		cmocka_unit_test(test_check_quorum),
		cmocka_unit_test(test_learner_never_votes),
		cmocka_unit_test(test_amnesia_rule),
		cmocka_unit_test(test_figure8_new_leader),
		cmocka_unit_test(test_leader_transfer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
