/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Cluster membership (dissertation §4.1-4.2): the configuration is the
 * last RAFT_META_CONFIG entry of the meta log, in force as soon as it is
 * appended, committed or not (§4.1). Changes go one server at a time, and
 * a new one only once the previous one is settled (below). New servers
 * join as learners (non-voting) and are promoted once caught up (§4.2.1);
 * any member can be removed, the leader itself included (§4.2.2).
 */
#include <errno.h>
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

/* Recompute the configuration from the meta snapshot and log. Any role.
 * A (pre-)candidate that finds itself no voter (removed, and told so by
 * a pull) stops standing. */
void
raft_membership_update(struct raft_ctl *r)
{
	const struct plog *pl = r->meta;
	uint64_t i;

	r->voters = r->snap_voters;
	r->learners = r->snap_learners;
	r->config_index = pl->snap_index;
	for (i = pl->snap_index + 1; i <= pl->last; i++) {
		const struct lock_entry *e = plog_entry(pl, i);

		if (e->op != RAFT_META_CONFIG)
			continue;
		r->voters = (uint8_t)e->client_id;
		r->learners = (uint8_t)e->request_id;
		r->config_index = i;
	}
	if ((r->role == RAFT_PRECANDIDATE || r->role == RAFT_CANDIDATE) &&
	    !raft_membership_is_voter(r, r->cfg.id))
		raft_convert(r, RAFT_FOLLOWER);
}

bool
raft_membership_is_voter(const struct raft_ctl *r, uint8_t node)
{
	return node < RAFT_NODES_MAX && (r->voters & (1u << node));
}

unsigned
raft_membership_majority(const struct raft_ctl *r)
{
	return (unsigned)__builtin_popcount(r->voters) / 2 + 1;
}

/*
 * Snapshot of the meta log's state machine: the configuration as of the
 * last applied meta entry. Called by plog when it compacts the meta log,
 * which then covers exactly that prefix, so it becomes the snapshot's
 * configuration too.
 */
uint32_t
raft_membership_save(struct raft_ctl *r, uint8_t *buf, uint32_t max)
{
	const struct plog *pl = r->meta;
	uint8_t voters = r->snap_voters, learners = r->snap_learners;
	uint64_t i;

	LATCH_ASSERT(max >= 2);
	for (i = pl->snap_index + 1; i <= pl->applied; i++) {
		const struct lock_entry *e = plog_entry(pl, i);

		if (e->op != RAFT_META_CONFIG)
			continue;
		voters = (uint8_t)e->client_id;
		learners = (uint8_t)e->request_id;
	}
	r->snap_voters = voters;
	r->snap_learners = learners;
	buf[0] = voters;
	buf[1] = learners;
	return 2;
}

void
raft_membership_load(struct raft_ctl *r, const uint8_t *buf, uint32_t len)
{
	if (len < 2)
		return;
	r->snap_voters = buf[0];
	r->snap_learners = buf[1];
}

/*
 * Leader: may the next configuration change start? One server at a time
 * is safe only if every decision of the past was taken by a majority of
 * the configuration in force or of the one before it (dissertation §4.1).
 * So, before the next change:
 * - the meta log: this leader's no-op is committed (a configuration of an
 *   earlier leader that never committed cannot meet this one's, the
 *   single-server bug of raft-dev 2015 and its fix), and so is the
 *   configuration in force;
 * - every partition log (committed by the leader's dataplane with the
 *   voters of its view, raft_chan.h): the dataplane has applied a view
 *   that carries the configuration in force (so it commits with it or a
 *   later one), its own no-op is committed (nothing of earlier terms
 *   lies above its commit index), and what it had committed then is held
 *   by a majority of the configuration in force (so nothing committed
 *   with the previous one depends on a node about to leave).
 * Reports are past states, which suffices: commit and match only grow
 * within one dataplane incarnation and term.
 */
bool
raft_membership_is_settled(const struct raft_ctl *r)
{
	const struct plog *pl = r->meta;
	unsigned need = raft_membership_majority(r);
	uint16_t p;
	uint8_t i;

	if (pl->commit < pl->term_start || pl->commit < r->config_index)
		return false;
	for (p = 0; p < r->cfg.partitions; p++) {
		const struct raft_chan_report *rep = &r->rep[p];
		unsigned held = 0;

		if (!raft_report_is_leading(r, rep) ||
		    rep->seq < r->config_seq || rep->commit < rep->term_start)
			return false;
		for (i = 0; i < RAFT_NODES_MAX; i++) {
			if (!raft_membership_is_voter(r, i))
				continue;
			if (i == r->cfg.id ||
			    (!r->peers[i].amnesic &&
			     r->peers[i].incarnation != 0 &&
			     rep->peer_incarnation[i] ==
				     r->peers[i].incarnation &&
			     rep->match[i] >= rep->commit))
				held++;
		}
		if (held < need)
			return false;
	}
	return true;
}

/*
 * Leader: append a new configuration. One change at a time: refused
 * while the previous one is not settled (above), and by a leader that is
 * itself leaving the configuration.
 */
int
raft_membership_change(struct raft_ctl *r, uint8_t voters, uint8_t learners)
{
	struct plog *pl = r->meta;
	struct lock_entry e;
	int64_t idx;

	if (r->role != RAFT_LEADER)
		return -ENOTCONN;
	if (!raft_membership_is_voter(r, r->cfg.id) ||
	    !raft_membership_is_settled(r))
		return -EBUSY;
	LATCH_ASSERT(__builtin_popcount((uint8_t)(voters ^ r->voters)) <= 1);
	LATCH_ASSERT(voters != 0 && (voters & learners) == 0);
	memset(&e, 0, sizeof(e));
	e.op = RAFT_META_CONFIG;
	e.client_id = voters;
	e.request_id = learners;
	e.term = r->term;
	idx = plog_append(pl, &e);
	if (idx < 0)
		return (int)idx;
	raft_membership_update(r);
	if (r->fx->persist_meta_from == 0)
		r->fx->persist_meta_from = (uint64_t)idx;
	return 0;
}

/*
 * Leader: promote the first learner that is caught up and whose
 * dataplane has no amnesia (dissertation §4.2.1: a new server votes only
 * once it holds the log).
 */
void
raft_membership_promote(struct raft_ctl *r)
{
	uint8_t i;

	if (r->role != RAFT_LEADER || r->transfer_to != RAFT_NONE)
		return;
	for (i = 0; i < RAFT_NODES_MAX; i++) {
		if (!(r->learners & (1u << i)) || r->peers[i].amnesic ||
		    !raft_peer_is_caught_up(r, i))
			continue;
		raft_membership_change(r, (uint8_t)(r->voters | (1u << i)),
				       (uint8_t)(r->learners & ~(1u << i)));
		return;
	}
}

/* The voter, other than this node, that a leaving leader hands over to:
 * no amnesia, the longest meta log, the lowest id on a tie. */
static uint8_t
raft_membership_successor(const struct raft_ctl *r)
{
	uint8_t i, best = RAFT_NONE;

	for (i = 0; i < RAFT_NODES_MAX; i++) {
		if (i == r->cfg.id || !raft_membership_is_voter(r, i) ||
		    r->peers[i].amnesic)
			continue;
		if (best == RAFT_NONE ||
		    r->meta->peers[i].match > r->meta->peers[best].match)
			best = i;
	}
	return best;
}

/*
 * Leader no longer in the configuration in force (it removed itself,
 * dissertation §4.2.2): it leads on, counting only the new configuration,
 * until that entry is committed; then it transfers leadership
 * (dissertation §3.10) to a successor, and steps down once TIMEOUT_NOW
 * has left, or after an election timeout at the latest (the others then
 * elect as after any leader's loss). Called after every step that may
 * advance the meta commit index.
 */
void
raft_membership_leave(struct raft_ctl *r)
{
	uint8_t to;

	if (r->role != RAFT_LEADER || raft_membership_is_voter(r, r->cfg.id) ||
	    r->meta->commit < r->config_index)
		return;
	if (r->leave_deadline == 0) {
		r->leave_deadline = r->now + r->cfg.election_ms;
		to = raft_membership_successor(r);
		if (to != RAFT_NONE) {
			r->transfer_to = to;
			r->transfer_sent = false;
			r->transfer_deadline = r->leave_deadline;
			return;
		}
	}
	if (r->transfer_sent || r->now >= r->leave_deadline)
		raft_convert(r, RAFT_FOLLOWER);
}
