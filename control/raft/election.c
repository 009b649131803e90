/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Leader election: randomized timeouts (paper §5.2), the vote rule across
 * every log (§5.4.1, extended to the meta log and all partition logs),
 * pre-vote and check-quorum (dissertation §9.6), leader stickiness
 * (dissertation §4.2.3), leader transfer (dissertation §3.10), and the
 * pull of a more up-to-date peer's tail (docs/raft.md, "pull").
 */
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

/* splitmix64: a small PRNG whose state the caller seeds (no globals). */
uint64_t
raft_rand(struct raft *r)
{
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* §5.2: a new election timeout, uniform in [T, 2T). Any role. */
void
raft_election_timer_reset(struct raft *r)
{
	r->election_deadline =
		r->now + r->cfg.election_ms + raft_rand(r) % r->cfg.election_ms;
}

/* A node may campaign and vote only as a voter with its logs intact. */
static bool
raft_can_vote(const struct raft *r)
{
	return raft_membership_is_voter(r, r->cfg.id) && !raft_is_amnesic(r);
}

/*
 * The vote rule (DESIGN.md): a candidate is at least as up to date as
 * this node in the meta log and in every partition log.
 */
bool
raft_log_is_up_to_date(const struct raft *r, const struct raft_pos *pos)
{
	uint16_t l;

	for (l = 0; l < r->logs; l++)
		if (!plog_is_up_to_date(r->log[l], pos[l]))
			return false;
	return true;
}

static void
raft_fill_pos(const struct raft *r, struct raft_pos *pos)
{
	uint16_t l;

	for (l = 0; l < r->logs; l++)
		pos[l] = plog_last_pos(r->log[l]);
}

static unsigned
raft_count(const struct raft *r, uint8_t set)
{
	return (unsigned)__builtin_popcount(set & r->voters);
}

/* Has a leader been heard from within the minimum election timeout? */
static bool
raft_leader_is_recent(const struct raft *r)
{
	if (r->role == RAFT_LEADER)
		return true;
	return r->leader != RAFT_NONE &&
	       r->now < r->leader_contact_ms + r->cfg.election_ms;
}

/*
 * Start an election (§5.2), first as a pre-candidate (§9.6): ask for
 * pre-votes for term + 1 without changing the term, so a node that
 * cannot win (partitioned, behind) never disrupts the cluster. Called by
 * the election timer, by a majority of pre-votes, or by TIMEOUT_NOW.
 */
void
raft_election_start(struct raft *r, bool pre)
{
	struct raft_msg *m = &r->scratch;
	uint8_t i;

	raft_convert(r, pre ? RAFT_PRECANDIDATE : RAFT_CANDIDATE);
	if (raft_count(r, pre ? r->prevotes : r->votes) >=
	    raft_membership_majority(r)) {
		/* A single voter elects itself. */
		if (pre)
			raft_election_start(r, false);
		else
			raft_convert(r, RAFT_LEADER);
		return;
	}
	for (i = 0; i < RAFT_NODES_MAX; i++) {
		if (i == r->cfg.id || !(r->voters & (1u << i)))
			continue;
		memset(m, 0, offsetof(struct raft_msg, u));
		m->type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE;
		m->term = pre ? r->term + 1 : r->term;
		m->u.vote.logs = r->logs;
		m->u.vote.transfer = r->transfer_campaign;
		raft_fill_pos(r, m->u.vote.pos);
		raft_send(r, i, m);
	}
}

/*
 * Timers (§5.2, §9.6). Follower and (pre-)candidate: when the election
 * timeout passes, campaign if allowed (a voter without amnesia), else
 * just forget the leader. Leader: check-quorum: step down if a majority
 * of voters has not answered within an election timeout, since a
 * partitioned leader must not go on believing it leads; and abandon a
 * leader transfer that did not finish within one.
 */
void
raft_election_tick(struct raft *r)
{
	if (r->role == RAFT_LEADER) {
		if (r->transfer_to != RAFT_NONE &&
		    r->now >= r->transfer_deadline)
			r->transfer_to = RAFT_NONE;
		if (r->now >= r->quorum_due) {
			uint8_t heard = (uint8_t)(1u << r->cfg.id), i;

			for (i = 0; i < RAFT_NODES_MAX; i++)
				if (r->peers[i].contact_ms +
					    r->cfg.election_ms >
				    r->now)
					heard |= (uint8_t)(1u << i);
			if (raft_count(r, heard) <
			    raft_membership_majority(r)) {
				raft_convert(r, RAFT_FOLLOWER);
				return;
			}
			r->quorum_due = r->now + r->cfg.election_ms;
		}
		return;
	}
	if (r->now < r->election_deadline)
		return;
	if (!raft_can_vote(r)) {
		r->leader = RAFT_NONE;
		raft_election_timer_reset(r);
		return;
	}
	raft_election_start(r, true);
}

/* PULL from a voter whose log @l is ahead of ours, resuming after @from
 * (our last entry, or the last one known to match the voter's). */
static void
raft_pull(struct raft *r, uint8_t voter, uint16_t l, struct raft_pos from)
{
	struct raft_msg *m = &r->scratch;

	memset(m, 0, offsetof(struct raft_msg, u));
	m->type = RAFT_MSG_PULL;
	m->log = l;
	m->term = r->term;
	m->u.pull.last = from;
	m->u.pull.commit = r->log[l]->commit;
	raft_send(r, voter, m);
}

static void
raft_pull_missing(struct raft *r, const struct raft_msg *m)
{
	uint16_t l;

	if (raft_is_amnesic(r) || m->u.vote_reply.logs != r->logs)
		return;
	for (l = 0; l < r->logs; l++) {
		struct raft_pos mine = plog_last_pos(r->log[l]);
		struct raft_pos theirs = m->u.vote_reply.pos[l];

		if (theirs.term > mine.term ||
		    (theirs.term == mine.term && theirs.index > mine.index))
			raft_pull(r, m->from, l, mine);
	}
}

static void
raft_reply_vote(struct raft *r, const struct raft_msg *req, uint8_t type,
		uint64_t term, bool granted)
{
	struct raft_msg *m = &r->scratch;

	memset(m, 0, offsetof(struct raft_msg, u));
	m->type = type;
	m->term = term;
	m->u.vote_reply.logs = r->logs;
	m->u.vote_reply.granted = granted;
	raft_fill_pos(r, m->u.vote_reply.pos);
	raft_send(r, req->from, m);
}

/* Voter: §9.6 pre-vote. Changes nothing here; grants if an election for
 * m->term could be granted and no leader is known to be alive. */
static void
raft_recv_prevote(struct raft *r, const struct raft_msg *m)
{
	bool granted = m->u.vote.logs == r->logs && raft_can_vote(r) &&
		       m->term > r->term && !raft_leader_is_recent(r) &&
		       raft_log_is_up_to_date(r, m->u.vote.pos);

	raft_reply_vote(r, m, RAFT_MSG_PREVOTE_REPLY,
			granted ? m->term : r->term, granted);
}

/* Voter: RequestVote receiver (Figure 2); the term is already current. */
static void
raft_recv_vote(struct raft *r, const struct raft_msg *m)
{
	bool granted = m->u.vote.logs == r->logs && m->term == r->term &&
		       r->role != RAFT_LEADER && raft_can_vote(r) &&
		       (r->voted_for == RAFT_NONE || r->voted_for == m->from) &&
		       raft_log_is_up_to_date(r, m->u.vote.pos);

	if (granted) {
		r->voted_for = m->from;
		r->fx->persist_term_vote = true;
		raft_election_timer_reset(r);
	}
	raft_reply_vote(r, m, RAFT_MSG_VOTE_REPLY, r->term, granted);
}

/* Messages of elections and pulls; raft_recv() has handled the term. */
void
raft_election_recv(struct raft *r, const struct raft_msg *m)
{
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
		raft_recv_prevote(r, m);
		break;
	case RAFT_MSG_VOTE:
		raft_recv_vote(r, m);
		break;
	case RAFT_MSG_PREVOTE_REPLY:
		if (r->role != RAFT_PRECANDIDATE)
			break;
		if (!m->u.vote_reply.granted) {
			raft_pull_missing(r, m);
			break;
		}
		if (m->term != r->term + 1)
			break;
		r->prevotes |= (uint8_t)(1u << m->from);
		if (raft_count(r, r->prevotes) >= raft_membership_majority(r))
			raft_election_start(r, false);
		break;
	case RAFT_MSG_VOTE_REPLY:
		if (r->role != RAFT_CANDIDATE || m->term != r->term ||
		    !m->u.vote_reply.granted)
			break;
		r->votes |= (uint8_t)(1u << m->from);
		if (raft_count(r, r->votes) >= raft_membership_majority(r))
			raft_convert(r, RAFT_LEADER);
		break;
	case RAFT_MSG_TIMEOUT_NOW:
		/* §3.10: the leader made us as up to date as itself. */
		if (m->term != r->term || r->role != RAFT_FOLLOWER ||
		    !raft_can_vote(r))
			break;
		r->transfer_campaign = true;
		raft_election_start(r, false);
		break;
	case RAFT_MSG_PULL: {
		struct raft_msg *out = &r->scratch;
		struct raft_pos last = m->u.pull.last;
		uint64_t commit = m->u.pull.commit;

		if (raft_is_amnesic(r))
			break;
		memset(out, 0, offsetof(struct raft_msg, u));
		if (!plog_pull_fill(r->log[m->log], last, commit,
				    &out->u.append))
			break;
		out->type = RAFT_MSG_PULL_REPLY;
		out->log = m->log;
		out->term = r->term;
		raft_send(r, m->from, out);
		break;
	}
	case RAFT_MSG_PULL_REPLY: {
		const struct raft_msg_append *a = &m->u.append;
		struct raft_pos pos;
		uint64_t matched;
		uint32_t taken;

		if (r->role == RAFT_LEADER || raft_is_amnesic(r))
			break;
		taken = plog_pull_apply(r->log[m->log], a, &matched);
		if (taken > 0 && m->log == raft_meta(r)) {
			raft_membership_update(r);
			r->fx->persist_meta_from = a->prev_index + 1;
		}
		/* A full batch all taken or matching: ask for the next. */
		if (a->n == r->log[m->log]->cfg.batch_max &&
		    matched == a->prev_index + a->n) {
			pos.index = matched;
			LATCH_ASSERT(plog_term_at(r->log[m->log], matched,
						  &pos.term));
			raft_pull(r, m->from, m->log, pos);
		}
		break;
	}
	default:
		break;
	}
}
