/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Role changes (Raft paper Figure 4; dissertation §9.6 for the
 * pre-candidate). Every role change of a node passes through
 * raft_convert(), which asserts that the transition is one the protocol
 * allows and does what entering the role requires.
 */
#include "common/assert.h"
#include "control/raft/raft.h"

/*
 * Legal transitions. A follower times out into pre-candidate (or, on
 * TIMEOUT_NOW, straight into candidate); a pre-candidate with a majority
 * of pre-votes becomes candidate; a candidate with a majority of votes
 * becomes leader; a timed-out (pre-)candidate starts over with a
 * pre-vote; anyone steps down to follower on a higher term or a current
 * leader. A leader never becomes (pre-)candidate without stepping down.
 */
static bool
raft_convert_is_legal(enum raft_role from, enum raft_role to)
{
	switch (from) {
	case RAFT_FOLLOWER:
		return to == RAFT_FOLLOWER || to == RAFT_PRECANDIDATE ||
		       to == RAFT_CANDIDATE;
	case RAFT_PRECANDIDATE:
		return to == RAFT_FOLLOWER || to == RAFT_PRECANDIDATE ||
		       to == RAFT_CANDIDATE;
	case RAFT_CANDIDATE:
		return to == RAFT_FOLLOWER || to == RAFT_PRECANDIDATE ||
		       to == RAFT_LEADER;
	case RAFT_LEADER:
		return to == RAFT_FOLLOWER;
	}
	return false;
}

/*
 * Enter role @to. Candidate: increment the term and vote for self, both
 * to be persisted before the VOTE requests leave (§5.2); the VOTEs leave
 * once the dataplane reported from the new term (election.c). Leader:
 * start replicating the meta log (§5.3, §5.4.2: a no-op); the view that
 * ends the step makes the dataplane lead every partition. Any role: the
 * node follows no leader until one contacts it.
 */
void
raft_convert(struct raft_ctl *r, enum raft_role to)
{
	LATCH_ASSERT(raft_convert_is_legal((enum raft_role)r->role, to));
	if (r->role != to && r->fx != NULL)
		r->fx->role_changed = true;
	r->role = (uint8_t)to;
	r->prevotes = 0;
	r->votes = 0;
	r->transfer_to = RAFT_NONE;
	r->transfer_sent = false;
	r->votes_sent = false;
	r->leave_deadline = 0;
	switch (to) {
	case RAFT_FOLLOWER:
		r->leader = RAFT_NONE;
		r->transfer_campaign = false;
		raft_election_timer_reset(r);
		break;
	case RAFT_PRECANDIDATE:
		LATCH_ASSERT(raft_membership_is_voter(r, r->cfg.id));
		LATCH_ASSERT(!raft_is_amnesic(r));
		r->leader = RAFT_NONE;
		r->transfer_campaign = false;
		r->prevotes = (uint8_t)(1u << r->cfg.id);
		raft_election_timer_reset(r);
		break;
	case RAFT_CANDIDATE:
		LATCH_ASSERT(raft_membership_is_voter(r, r->cfg.id));
		LATCH_ASSERT(!raft_is_amnesic(r));
		r->leader = RAFT_NONE;
		r->term++;
		r->voted_for = r->cfg.id;
		if (r->fx != NULL)
			r->fx->persist_term_vote = true;
		r->votes = (uint8_t)(1u << r->cfg.id);
		raft_election_timer_reset(r);
		break;
	case RAFT_LEADER:
		LATCH_ASSERT(r->voted_for == r->cfg.id);
		r->leader = r->cfg.id;
		r->transfer_campaign = false;
		if (!raft_replication_start(r))
			raft_convert(r, RAFT_FOLLOWER);
		break;
	}
}
