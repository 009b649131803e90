/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Leader election in the control half: randomized timeouts (paper §5.2),
 * the vote rule across every log (§5.4.1, extended to the meta log and
 * all partition logs, the latter known through the dataplane's reports),
 * pre-vote and check-quorum (dissertation §9.6), leader stickiness
 * (dissertation §4.2.3), leader transfer (dissertation §3.10), and the
 * pull of a more up-to-date peer's tail (docs/raft.md, "pull").
 *
 * Votes wait for fresh reports (raft_chan.h): a VOTE that could be
 * granted is kept in pending[] until every partition has reported from
 * the latest view, then decided; a candidate sends its VOTEs only then,
 * with the positions those reports carry. A PREVOTE needs only reports
 * of the current term (raft_reports_are_current).
 */
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

/* splitmix64: a small PRNG whose state the caller seeds (no globals). */
uint64_t
raft_rand(struct raft_ctl *r)
{
	uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * The quick path after the leader's process was reported gone: campaign
 * (again) at @after_ms, plus a random part of up to a beacon period (the
 * skew between two followers learning it) if @jitter, if that is sooner
 * than the election timer. The random part keeps two followers whose
 * retries fall in the same instant from splitting the vote; the first
 * campaign needs none (raft_quick_stagger). Rounds are counted
 * (quick_rounds); once spent, the usual timeouts rule.
 */
void
raft_election_quick(struct raft_ctl *r, uint64_t after_ms, bool jitter)
{
	uint64_t at;

	if (r->quick_rounds == 0)
		return;
	r->quick_rounds--;
	at = r->now + after_ms;
	if (jitter)
		at += raft_rand(r) % (raft_beacon_ms(r) + 1);
	if (at < r->election_deadline)
		r->election_deadline = at;
}

/* §5.2: a new election timeout, uniform in [T, 2T). Any role. */
void
raft_election_timer_reset(struct raft_ctl *r)
{
	r->election_deadline =
		r->now + r->cfg.election_ms + raft_rand(r) % r->cfg.election_ms;
}

/*
 * Has every partition reported, from this dataplane incarnation, after
 * applying a view of this control plane of the current term, at least as
 * recent as the last change of the view? Then the reports show every
 * entry the dataplane acknowledged before the current term (raft_chan.h).
 */
static bool
raft_reports_since(const struct raft_ctl *r, uint64_t seq)
{
	uint16_t p;

	if (r->dp_incarnation == 0)
		return false;
	for (p = 0; p < r->cfg.partitions; p++) {
		const struct raft_chan_report *rep = &r->rep[p];

		if (rep->incarnation != r->dp_incarnation ||
		    rep->ctl_incarnation != r->ctl_incarnation ||
		    rep->seq < seq || rep->seq == 0 || rep->term != r->term)
			return false;
	}
	return true;
}

bool
raft_reports_are_fresh(const struct raft_ctl *r)
{
	return raft_reports_since(r, r->fresh_seq);
}

/*
 * Fresh but for the view change of a follower forgetting its dead leader
 * (raft_chan_sync, prevote_seq): the logs it reported are the logs it
 * has. Enough for a pre-vote, which changes nothing (and the vote that
 * follows waits for fresh reports of its new term). Waiting for that
 * change's reports cost the quick path a trip through every worker,
 * as slow as the busiest one.
 */
static bool
raft_reports_are_current(const struct raft_ctl *r)
{
	return raft_reports_since(r, r->prevote_seq);
}

/* Reports enough to decide a request of @type (PREVOTE or VOTE). */
static bool
raft_reports_suffice(const struct raft_ctl *r, uint8_t type)
{
	return type == RAFT_MSG_PREVOTE ? raft_reports_are_current(r)
					: raft_reports_are_fresh(r);
}

/* A node may grant a vote or pre-vote only with its logs intact, as the
 * reports show them (the diskless rule). */
static bool
raft_can_grant(const struct raft_ctl *r, uint8_t type)
{
	return !raft_is_amnesic(r) && raft_reports_suffice(r, type);
}

/* ... and campaign (with a pre-vote) only as a voter besides. */
static bool
raft_can_vote(const struct raft_ctl *r)
{
	return raft_membership_is_voter(r, r->cfg.id) &&
	       raft_can_grant(r, RAFT_MSG_PREVOTE);
}

static bool
raft_pos_covers(struct raft_pos theirs, struct raft_pos mine)
{
	return theirs.term > mine.term ||
	       (theirs.term == mine.term && theirs.index >= mine.index);
}

/*
 * The vote rule (DESIGN.md): a candidate is at least as up to date as
 * this node in the meta log and in every partition log (§5.4.1 per log).
 */
static bool
raft_log_is_up_to_date(const struct raft_ctl *r, const struct raft_pos *pos)
{
	uint16_t p;

	for (p = 0; p < r->cfg.partitions; p++)
		if (!raft_pos_covers(pos[p], r->rep[p].last))
			return false;
	return plog_is_up_to_date(r->meta, pos[raft_meta(r)]);
}

/* ... and the converse: this node is at least as up to date as @pos in
 * every log, so it would be granted the vote of the node at @pos. */
static bool
raft_log_covers(const struct raft_ctl *r, const struct raft_pos *pos)
{
	uint16_t p;

	for (p = 0; p < r->cfg.partitions; p++)
		if (!raft_pos_covers(r->rep[p].last, pos[p]))
			return false;
	return raft_pos_covers(plog_last_pos(r->meta), pos[raft_meta(r)]);
}

static void
raft_fill_pos(const struct raft_ctl *r, struct raft_pos *pos)
{
	uint16_t p;

	for (p = 0; p < r->cfg.partitions; p++)
		pos[p] = r->rep[p].last;
	pos[raft_meta(r)] = plog_last_pos(r->meta);
}

static unsigned
raft_count(const struct raft_ctl *r, uint8_t set)
{
	return (unsigned)__builtin_popcount(set & r->voters);
}

/* Has a leader been heard from within the minimum election timeout? */
static bool
raft_leader_is_recent(const struct raft_ctl *r)
{
	if (r->role == RAFT_LEADER)
		return true;
	return r->leader != RAFT_NONE &&
	       r->now < r->leader_contact_ms + r->cfg.election_ms;
}

static void
raft_send_campaign(struct raft_ctl *r, uint8_t type, uint64_t term)
{
	struct raft_msg *m = &r->scratch;
	uint8_t i;

	for (i = 0; i < RAFT_NODES_MAX; i++) {
		if (i == r->cfg.id || !(r->voters & (1u << i)))
			continue;
		memset(m, 0, offsetof(struct raft_msg, u));
		m->type = type;
		m->term = term;
		m->u.vote.logs = r->logs;
		m->u.vote.transfer = r->transfer_campaign;
		raft_fill_pos(r, m->u.vote.pos);
		raft_send(r, i, m);
	}
}

/*
 * Candidate: send the VOTEs once every partition reported from the new
 * term, so the dataplane refuses older terms' APPENDs before any vote
 * leaves and the positions sent cannot be overtaken by acked entries.
 * A dataplane found amnesic ends the campaign.
 */
static void
raft_election_send_votes(struct raft_ctl *r)
{
	if (r->role != RAFT_CANDIDATE || r->votes_sent ||
	    !raft_reports_are_fresh(r))
		return;
	if (raft_is_amnesic(r)) {
		raft_convert(r, RAFT_FOLLOWER);
		return;
	}
	r->votes_sent = true;
	raft_send_campaign(r, RAFT_MSG_VOTE, r->term);
}

/*
 * Start an election (§5.2), first as a pre-candidate (§9.6): ask for
 * pre-votes for term + 1 without changing the term, so a node that
 * cannot win (partitioned, behind) never disrupts the cluster. Called by
 * the election timer (with fresh reports), by a majority of pre-votes, or
 * by TIMEOUT_NOW.
 */
void
raft_election_start(struct raft_ctl *r, bool pre)
{
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
	if (pre)
		raft_send_campaign(r, RAFT_MSG_PREVOTE, r->term + 1);
	else
		raft_election_send_votes(r);
}

/*
 * Timers (§5.2, §9.6). Follower and (pre-)candidate: when the election
 * timeout passes, campaign if allowed (a voter without amnesia, with
 * fresh reports), else just forget the leader. Leader: check-quorum:
 * step down if a majority of voters has not answered within an election
 * timeout (a partitioned leader must not go on believing it leads), or
 * if its own dataplane has not reported within one (it cannot serve);
 * abandon a leader transfer that did not finish within one. Any role:
 * forget pending votes older than an election timeout.
 */
void
raft_election_tick(struct raft_ctl *r)
{
	uint8_t i;

	for (i = 0; i < RAFT_NODES_MAX; i++)
		if (r->pending[i].valid &&
		    r->now >= r->pending[i].at_ms + r->cfg.election_ms)
			r->pending[i].valid = false;
	if (r->role == RAFT_LEADER) {
		if (r->transfer_to != RAFT_NONE &&
		    r->now >= r->transfer_deadline)
			r->transfer_to = RAFT_NONE;
		if (r->now >= r->dp_contact_ms + r->cfg.election_ms) {
			raft_convert(r, RAFT_FOLLOWER);
			return;
		}
		if (r->now >= r->quorum_due) {
			uint8_t heard = (uint8_t)(1u << r->cfg.id);

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
		/* The quick path: the view that forgot the leader may not
		 * have come back in fresh reports yet; they are a channel
		 * round trip away. */
		raft_election_quick(r, 1, true);
		return;
	}
	raft_election_start(r, true);
}

/* PULL the meta log from a voter, resuming after @from. */
static void
raft_pull_meta(struct raft_ctl *r, uint8_t voter, struct raft_pos from)
{
	struct raft_msg *m = &r->scratch;

	/* The whole body: the snapshot fields stay 0 (a meta log is not
	 * pulled as a snapshot; docs/raft.md). */
	memset(m, 0, sizeof(*m) - sizeof(m->u) + sizeof(m->u.pull));
	m->type = RAFT_MSG_PULL;
	m->log = raft_meta(r);
	m->term = r->term;
	m->u.pull.last = from;
	m->u.pull.commit = r->meta->commit;
	raft_send(r, voter, m);
}

/* Refused by a voter that is ahead in some log: fetch its tails, the
 * meta log here, each partition by the dataplane (docs/raft.md, "pull"). */
static void
raft_pull_missing(struct raft_ctl *r, const struct raft_msg *m)
{
	const struct raft_pos *theirs = m->u.vote_reply.pos;
	struct raft_pos mine;
	uint16_t p;

	if (raft_is_amnesic(r))
		return;
	for (p = 0; p < r->cfg.partitions; p++)
		if (!raft_pos_covers(r->rep[p].last, theirs[p]))
			raft_chan_pull(r, p, m->from);
	mine = plog_last_pos(r->meta);
	if (!raft_pos_covers(mine, theirs[raft_meta(r)]))
		raft_pull_meta(r, m->from, mine);
}

static void
raft_reply_vote(struct raft_ctl *r, uint8_t to, uint8_t type, uint64_t term,
		bool granted)
{
	struct raft_msg *m = &r->scratch;

	memset(m, 0, offsetof(struct raft_msg, u));
	m->type = type;
	m->term = term;
	m->u.vote_reply.logs = r->logs;
	m->u.vote_reply.granted = granted;
	raft_fill_pos(r, m->u.vote_reply.pos);
	raft_send(r, to, m);
}

/*
 * Could a request be granted, positions and freshness aside? Whatever
 * this node's configuration says of itself or of the candidate
 * (dissertation §4.1: servers answer without consulting it): a learner
 * that was promoted may not know it yet, a candidate may have been added
 * by an entry this node lacks, and the candidate counts votes by its own
 * configuration. Only the logs (the diskless rule, the vote rule) and
 * leader stickiness decide. A server removed without learning of it
 * (the leader stops replicating to it) is no threat (§4.2.3): no node
 * grants it a pre-vote while a leader is heard, and once the removal is
 * committed its meta log is behind a majority of its own configuration,
 * so it never wins pre-votes and never bumps a term.
 */
static bool
raft_vote_may_grant(const struct raft_ctl *r, uint8_t from,
		    const struct raft_vote_req *q)
{
	if (q->type == RAFT_MSG_PREVOTE)
		return q->term > r->term && !raft_leader_is_recent(r);
	return q->term == r->term && r->role != RAFT_LEADER &&
	       (r->voted_for == RAFT_NONE || r->voted_for == from);
}

/*
 * We refused the pre-vote of a node that is behind us: with no leader to
 * follow, stand now rather than at our staggered turn
 * (raft_quick_stagger), which only lets a lower-ranked survivor go first
 * to avoid a split vote. That one cannot win without our entries, and we
 * would win its vote. Traced in the lab: the surviving follower of the
 * lower id was a few entries behind in one partition log, its pre-vote
 * was refused, and the other waited out its 3 ms stagger before it stood.
 * Only when we are at least as up to date in every log: with crossed logs
 * each refuses the other and both pull what they lack first.
 */
static void
raft_election_refused_behind(struct raft_ctl *r, const struct raft_vote_req *q)
{
	if (r->role == RAFT_FOLLOWER && r->leader == RAFT_NONE &&
	    r->now < r->election_deadline && raft_can_vote(r) &&
	    raft_log_covers(r, q->pos))
		r->election_deadline = r->now;
}

/*
 * Decide a request on fresh reports (§5.4.1 on every log, §9.6 for the
 * pre-vote). A granted VOTE is persisted before the reply leaves (the
 * effects of this step) and resets the election timer (§5.2).
 */
static void
raft_vote_decide(struct raft_ctl *r, uint8_t from, struct raft_vote_req *q)
{
	bool granted = raft_vote_may_grant(r, from, q) &&
		       raft_can_grant(r, q->type) &&
		       raft_log_is_up_to_date(r, q->pos);

	q->valid = false;
	if (q->type == RAFT_MSG_PREVOTE) {
		raft_reply_vote(r, from, RAFT_MSG_PREVOTE_REPLY,
				granted ? q->term : r->term, granted);
		if (!granted)
			raft_election_refused_behind(r, q);
		return;
	}
	if (granted) {
		r->voted_for = from;
		r->fx->persist_term_vote = true;
		raft_election_timer_reset(r);
	}
	raft_reply_vote(r, from, RAFT_MSG_VOTE_REPLY, r->term, granted);
}

/* A PREVOTE or VOTE (term rules done): refuse now, or decide on fresh
 * reports, waiting for them if need be. */
static void
raft_recv_vote(struct raft_ctl *r, const struct raft_msg *m)
{
	struct raft_vote_req *q = &r->pending[m->from];

	q->valid = true;
	q->type = m->type;
	q->term = m->term;
	q->at_ms = r->now;
	memcpy(q->pos, m->u.vote.pos, sizeof(q->pos[0]) * r->logs);
	q->sticky = q->type == RAFT_MSG_PREVOTE && q->term > r->term &&
		    raft_leader_is_recent(r) && r->role == RAFT_FOLLOWER;
	if (!raft_vote_may_grant(r, m->from, q) || raft_is_amnesic(r) ||
	    raft_reports_suffice(r, q->type))
		raft_vote_decide(r, m->from, q);
}

/*
 * Our leader was reported gone (raft_ctl_peer_gone) and forgotten. A
 * PREVOTE we refused for it within the last beacon period came from a
 * node that learnt it first: decide it again now, as if it had just been
 * sent, instead of leaving that node to its retry 1 to beacon + 1 ms
 * later (traced: the usual second step of a failover). A pre-vote grant
 * binds nothing (§9.6); the pre-candidate counts it only if it still
 * asks for that term.
 */
void
raft_election_leader_gone(struct raft_ctl *r)
{
	uint8_t i;

	for (i = 0; i < RAFT_NODES_MAX; i++) {
		struct raft_vote_req *q = &r->pending[i];

		if (!q->sticky)
			continue;
		q->sticky = false;
		if (q->valid || r->now > q->at_ms + raft_beacon_ms(r) + 1)
			continue;
		q->valid = true;
		if (!raft_vote_may_grant(r, i, q) || raft_is_amnesic(r) ||
		    raft_reports_suffice(r, q->type))
			raft_vote_decide(r, i, q);
	}
}

/* After a report: the candidate's VOTEs, and requests waiting. */
void
raft_election_reports(struct raft_ctl *r)
{
	uint8_t i;

	raft_election_send_votes(r);
	for (i = 0; i < RAFT_NODES_MAX; i++)
		if (r->pending[i].valid &&
		    raft_reports_suffice(r, r->pending[i].type))
			raft_vote_decide(r, i, &r->pending[i]);
}

static void
raft_recv_pull_reply(struct raft_ctl *r, const struct raft_msg *m)
{
	const struct raft_msg_append *a = &m->u.append;
	struct raft_pos pos;
	uint64_t matched;
	uint32_t taken;

	if (r->role == RAFT_LEADER || raft_is_amnesic(r))
		return;
	taken = plog_pull_apply(r->meta, a, &matched);
	if (taken > 0) {
		raft_membership_update(r);
		if (r->fx->persist_meta_from == 0 ||
		    r->fx->persist_meta_from > a->prev_index + 1)
			r->fx->persist_meta_from = a->prev_index + 1;
	}
	/* A batch all taken or matching: ask for the next (a batch may be
	 * short of batch_max by its bytes; after the last one the source
	 * has nothing to send and does not answer). */
	if (a->n > 0 && matched == a->prev_index + a->n) {
		pos.index = matched;
		LATCH_ASSERT(plog_term_at(r->meta, matched, &pos.term));
		raft_pull_meta(r, m->from, pos);
	}
}

/* Messages of elections and meta pulls; raft_ctl_recv() did the term. */
void
raft_election_recv(struct raft_ctl *r, const struct raft_msg *m)
{
	switch (m->type) {
	case RAFT_MSG_PREVOTE:
	case RAFT_MSG_VOTE:
		raft_recv_vote(r, m);
		break;
	case RAFT_MSG_PREVOTE_REPLY:
		if (r->role != RAFT_PRECANDIDATE)
			break;
		if (!m->u.vote_reply.granted) {
			raft_pull_missing(r, m);
			/* Behind (the pull runs meanwhile), or the voter
			 * still hears the dead leader (it learns otherwise
			 * within its next beacon): ask again soon. */
			raft_election_quick(r, 1, true);
			break;
		}
		if (m->term != r->term + 1)
			break;
		r->prevotes |= (uint8_t)(1u << m->from);
		if (raft_count(r, r->prevotes) >= raft_membership_majority(r))
			raft_election_start(r, false);
		break;
	case RAFT_MSG_VOTE_REPLY:
		if (r->role != RAFT_CANDIDATE || m->term != r->term)
			break;
		if (!m->u.vote_reply.granted) {
			/* A split vote on the quick path: campaign again
			 * soon, each at its own random instant. */
			raft_election_quick(r, raft_beacon_ms(r), true);
			break;
		}
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

		if (raft_is_amnesic(r))
			break;
		memset(out, 0, offsetof(struct raft_msg, u));
		if (!plog_pull_fill(r->meta, m->u.pull.last, m->u.pull.commit,
				    &out->u.append))
			break;
		out->type = RAFT_MSG_PULL_REPLY;
		out->log = raft_meta(r);
		out->term = r->term;
		raft_send(r, m->from, out);
		break;
	}
	case RAFT_MSG_PULL_REPLY:
		raft_recv_pull_reply(r, m);
		break;
	default:
		break;
	}
}
