/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Cluster membership (dissertation §4.1-4.2): the configuration is the
 * last RAFT_META_CONFIG entry of the meta log, in force as soon as it is
 * appended, committed or not (§4.1). Changes go one server at a time, and
 * a new one only after the previous one committed. New servers join as
 * learners (non-voting) and are promoted once caught up (§4.2.1).
 */
#include <errno.h>
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

/* Recompute the configuration from the meta snapshot and log. Any role. */
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
 * Leader: append a new configuration. One change at a time: refused
 * while the previous configuration entry is not committed (§4.1).
 */
int
raft_membership_change(struct raft_ctl *r, uint8_t voters, uint8_t learners)
{
	struct plog *pl = r->meta;
	struct lock_entry e;
	int64_t idx;

	if (r->role != RAFT_LEADER)
		return -ENOTCONN;
	if (r->config_index > pl->commit)
		return -EBUSY;
	LATCH_ASSERT(__builtin_popcount((uint8_t)(voters ^ r->voters)) <= 1);
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
