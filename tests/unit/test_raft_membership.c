/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of membership changes in the control half (control/raft)
 * composed with partition replicators (dataplane/prepl) as in the
 * product: removal of a follower (the new configuration decides commits
 * at once, in the meta log and in every partition log, dissertation
 * §4.1), a leader that removes itself (leads until the removal commits,
 * then hands over and steps down, §4.2.2), a removed server that never
 * learnt of its removal does not disrupt the others (§4.2.3), one change
 * at a time, and a removed server added back.
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

/* Run until one leader is known among @up; its id. */
static unsigned
fx_elect(uint8_t up)
{
	unsigned rounds;
	int lead = -1;

	for (rounds = 0; rounds < 40 && lead < 0; rounds++) {
		fx_run(100, up);
		lead = fx_leader();
	}
	assert_true(lead >= 0);
	return (unsigned)lead;
}

/* Propose one entry at the leader's worker of partition @p. */
static uint64_t
fx_propose(unsigned lead, uint16_t p)
{
	struct lock_entry e;
	int64_t idx;

	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	e.client_id = 9;
	e.request_id = fx_state.now;
	idx = prepl_propose(fx_state.n[lead].pp[p], &e, fx_state.now);
	assert_true(idx > 0);
	return (uint64_t)idx;
}

/* Remove @node at the leader, then run until the change settled. */
static void
fx_remove(unsigned lead, unsigned node, uint8_t up)
{
	struct raft_effects eff = {0};

	assert_int_equal(raft_ctl_remove_member(fx_state.n[lead].c,
						(uint8_t)node, fx_state.now,
						&eff),
			 0);
	assert_true(eff.persist_meta_from != 0);
	fx_run(300, up);
}

/*
 * Removing a follower: the new configuration is in force at once, and
 * from then on the removed node's acks count toward no commit, in the
 * meta log or any partition log; the remaining two are the majority.
 */
static void
test_remove_follower_new_majority(void **state)
{
	unsigned lead, gone, other;
	struct raft_ctl *lc;
	uint64_t idx;

	(void)state;
	fx_init(3, 3, 2);
	lead = fx_elect(ALL);
	lc = fx_state.n[lead].c;
	gone = (lead + 1) % 3;
	other = (lead + 2) % 3;
	fx_remove(lead, gone, ALL);
	assert_int_equal(fx_state.n[lead].c->role, RAFT_LEADER);
	assert_false(raft_membership_is_voter(lc, (uint8_t)gone));
	assert_int_equal(__builtin_popcount(lc->voters), 2);
	assert_true(lc->meta->commit >= lc->config_index);
	/* Every node holds the new configuration, the removed one too. */
	assert_false(
		raft_membership_is_voter(fx_state.n[gone].c, (uint8_t)gone));
	assert_false(
		raft_membership_is_voter(fx_state.n[other].c, (uint8_t)gone));
	/* The leader's dataplane counts by the new voters. */
	assert_int_equal(fx_state.n[lead].pp[0]->view.voters, lc->voters);

	/* The leader and the removed node alone (less than an election
	 * timeout, so check-quorum keeps the leader): nothing commits. */
	idx = fx_propose(lead, 1);
	fx_run(60, (uint8_t)((1u << lead) | (1u << gone)));
	assert_int_equal(fx_state.n[lead].c->role, RAFT_LEADER);
	assert_true(fx_state.n[lead].pp[1]->log->commit < idx);
	/* The remaining voter back: it commits. */
	fx_run(60, ALL);
	assert_true(fx_state.n[lead].pp[1]->log->commit >= idx);
	fx_fini();
}

/* The control: without the removal, the leader and that same follower
 * commit alone (2 of 3), so the test above tests the removal. */
static void
test_without_removal_follower_counts(void **state)
{
	unsigned lead, follower;
	uint64_t idx;

	(void)state;
	fx_init(3, 3, 2);
	lead = fx_elect(ALL);
	fx_run(300, ALL);
	follower = (lead + 1) % 3;
	idx = fx_propose(lead, 1);
	fx_run(60, (uint8_t)((1u << lead) | (1u << follower)));
	assert_true(fx_state.n[lead].pp[1]->log->commit >= idx);
	fx_fini();
}

/*
 * A leader that removes itself leads on, counting only the new
 * configuration, until the removal commits; then it steps down and one
 * of the remaining voters leads. It never campaigns again, and the new
 * leader's term stays put (nobody disrupts it).
 */
static void
test_leader_removes_itself(void **state)
{
	unsigned old, lead, i;
	struct raft_effects eff = {0};
	uint64_t term;

	(void)state;
	fx_init(3, 3, 1);
	old = fx_elect(ALL);
	fx_run(300, ALL);
	assert_int_equal(raft_ctl_remove_member(fx_state.n[old].c, (uint8_t)old,
						fx_state.now, &eff),
			 0);
	/* In force at once, but not committed: still the leader, and it
	 * does not count itself (the two others must both hold it). */
	assert_int_equal(fx_state.n[old].c->role, RAFT_LEADER);
	assert_false(raft_membership_is_voter(fx_state.n[old].c, (uint8_t)old));
	assert_true(fx_state.n[old].c->meta->commit <
		    fx_state.n[old].c->config_index);
	/* Only one of the two remaining voters reachable: no commit, the
	 * leader stays (less than an election timeout). */
	fx_run(60, (uint8_t)((1u << old) | (1u << ((old + 1) % 3))));
	assert_int_equal(fx_state.n[old].c->role, RAFT_LEADER);
	assert_true(fx_state.n[old].c->meta->commit <
		    fx_state.n[old].c->config_index);
	/* Both: it commits, hands over, steps down. */
	fx_run(400, ALL);
	assert_int_not_equal(fx_state.n[old].c->role, RAFT_LEADER);
	lead = fx_elect(ALL);
	assert_int_not_equal(lead, old);
	assert_false(prepl_is_leader(fx_state.n[old].pp[0]));
	term = fx_state.n[lead].c->term;
	for (i = 0; i < 40; i++) {
		fx_run(50, ALL);
		assert_true(fx_state.n[old].c->role == RAFT_FOLLOWER);
	}
	assert_int_equal(fx_leader(), (int)lead);
	assert_int_equal(fx_state.n[lead].c->term, term);
	assert_int_equal(__builtin_popcount(fx_state.n[lead].c->voters), 2);
	fx_fini();
}

/*
 * A follower cut off while it is removed never hears of its removal
 * (the leader replicates only to members). Back on the network it times
 * out, but wins no pre-vote (its meta log lacks the removal, which the
 * others hold) and bumps nobody's term; on a refusal it pulls the meta
 * log, learns that it is no voter, and stops standing.
 */
static void
test_removed_node_does_not_disrupt(void **state)
{
	unsigned lead, gone, i;
	struct raft_msg unaware;
	uint8_t rest;
	uint64_t term;

	(void)state;
	fx_init(3, 3, 1);
	lead = fx_elect(ALL);
	fx_run(300, ALL);
	gone = (lead + 1) % 3;
	rest = (uint8_t)(ALL & ~(1u << gone));
	fx_remove(lead, gone, rest);
	assert_true(
		raft_membership_is_voter(fx_state.n[gone].c, (uint8_t)gone));
	/* Its pre-vote as it would send it now, unaware of its removal. */
	unaware = fx_vote_msg(gone, (lead + 2) % 3, RAFT_MSG_PREVOTE, 0);
	term = fx_state.n[lead].c->term;
	for (i = 0; i < 40; i++)
		fx_run(50, ALL);
	assert_int_equal(fx_leader(), (int)lead);
	assert_int_equal(fx_state.n[lead].c->term, term);
	assert_false(
		raft_membership_is_voter(fx_state.n[gone].c, (uint8_t)gone));
	assert_int_equal(fx_state.n[gone].c->role, RAFT_FOLLOWER);
	/* It stands no more, even with no leader to hear from. */
	term = fx_state.n[gone].c->term;
	for (i = 0; i < 20; i++) {
		fx_run(50, (uint8_t)(1u << gone));
		assert_int_equal(fx_state.n[gone].c->role, RAFT_FOLLOWER);
	}
	assert_int_equal(fx_state.n[gone].c->term, term);
	/* Even with no leader heard, a node that holds the removal refuses
	 * the pre-vote the unaware node would have sent: its meta log
	 * lacks the removal. */
	fx_state.now += 1000;
	fx_settle((lead + 2) % 3);
	unaware.term = fx_state.n[(lead + 2) % 3].c->term + 1;
	assert_false(fx_ask(unaware));
	/* ... while a member with the same log as the leader's wins it. */
	assert_true(fx_ask(fx_vote_msg(lead, (lead + 2) % 3, RAFT_MSG_PREVOTE,
				       unaware.term)));
	fx_fini();
}

/* One change at a time, and the refusals' reasons. */
static void
test_remove_refusals(void **state)
{
	unsigned lead, a, b;
	struct raft_effects eff = {0};
	struct raft_ctl *lc;

	(void)state;
	fx_init(3, 3, 1);
	lead = fx_elect(ALL);
	fx_run(300, ALL);
	lc = fx_state.n[lead].c;
	a = (lead + 1) % 3;
	b = (lead + 2) % 3;
	assert_int_equal(raft_ctl_remove_member(fx_state.n[a].c, (uint8_t)b,
						fx_state.now, &eff),
			 -ENOTCONN);
	assert_int_equal(raft_ctl_remove_member(lc, 4, fx_state.now, &eff),
			 -EINVAL);
	assert_int_equal(
		raft_ctl_remove_member(lc, RAFT_NODES_MAX, fx_state.now, &eff),
		-EINVAL);
	assert_int_equal(
		raft_ctl_remove_member(lc, (uint8_t)a, fx_state.now, &eff), 0);
	/* The first change is not committed: the next waits. */
	assert_int_equal(
		raft_ctl_remove_member(lc, (uint8_t)b, fx_state.now, &eff),
		-EBUSY);
	assert_int_equal(raft_ctl_add_learner(lc, 4, fx_state.now, &eff),
			 -EBUSY);
	/* Not a member any more. */
	assert_int_equal(
		raft_ctl_remove_member(lc, (uint8_t)a, fx_state.now, &eff),
		-EINVAL);
	fx_run(300, ALL);
	assert_int_equal(
		raft_ctl_remove_member(lc, (uint8_t)b, fx_state.now, &eff), 0);
	fx_run(300, ALL);
	/* A single voter is left: it cannot remove itself. */
	assert_int_equal(lc->voters, 1u << lead);
	assert_int_equal(lc->role, RAFT_LEADER);
	assert_int_equal(
		raft_ctl_remove_member(lc, (uint8_t)lead, fx_state.now, &eff),
		-EINVAL);
	fx_fini();
}

/* A learner can be removed before it is promoted; a removed voter can
 * be added back, is caught up and promoted again. */
static void
test_remove_learner_and_readd(void **state)
{
	unsigned lead, gone;
	struct raft_effects eff = {0};
	struct raft_ctl *lc;

	(void)state;
	fx_init(4, 3, 1);
	lead = fx_elect(0x07);
	fx_run(300, 0x07);
	lc = fx_state.n[lead].c;
	/* Node 3 is added while down: a learner it stays. */
	assert_int_equal(raft_ctl_add_learner(lc, 3, fx_state.now, &eff), 0);
	fx_run(300, 0x07);
	assert_int_equal(lc->learners, 0x08);
	assert_int_equal(raft_ctl_remove_member(lc, 3, fx_state.now, &eff), 0);
	assert_int_equal(lc->learners, 0);
	fx_run(300, 0x07);
	gone = (lead + 1) % 3;
	fx_remove(lead, gone, 0x07);
	assert_false(raft_membership_is_voter(lc, (uint8_t)gone));
	assert_int_equal(
		raft_ctl_add_learner(lc, (uint8_t)gone, fx_state.now, &eff), 0);
	fx_run(600, 0x07);
	assert_true(raft_membership_is_voter(lc, (uint8_t)gone));
	assert_int_equal(__builtin_popcount(lc->voters), 3);
	assert_true(
		raft_membership_is_voter(fx_state.n[gone].c, (uint8_t)gone));
	fx_fini();
}

int
main(void)
{
	(void)fx_put; /* a helper of the shared fixture not needed here */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remove_follower_new_majority),
		cmocka_unit_test(test_without_removal_follower_counts),
		cmocka_unit_test(test_leader_removes_itself),
		cmocka_unit_test(test_removed_node_does_not_disrupt),
		cmocka_unit_test(test_remove_refusals),
		cmocka_unit_test(test_remove_learner_and_readd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
