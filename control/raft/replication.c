/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Replication of the meta log between control planes (paper §5.3,
 * §5.4.2, §7), whose APPENDs double as the control-plane heartbeats
 * (check-quorum, leader liveness), and the leader's judgements that need
 * the partitions too, from its dataplane's reports: the caught-up
 * verdict of the diskless rule, learner promotion and the leader-transfer
 * trigger. Partition logs are replicated by the dataplane
 * (dataplane/prepl.c).
 */
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

/* Voters whose acks count toward commit: not amnesic (docs/raft.md). */
uint8_t
raft_counted(const struct raft_ctl *r)
{
	uint8_t set = (uint8_t)(1u << r->cfg.id), i;

	for (i = 0; i < RAFT_NODES_MAX; i++)
		if (!r->peers[i].amnesic)
			set |= (uint8_t)(1u << i);
	return set & r->voters;
}

static uint8_t
raft_targets(const struct raft_ctl *r)
{
	return (uint8_t)((r->voters | r->learners) & ~(1u << r->cfg.id));
}

/* A report of this leadership: this dataplane, a leader view of this
 * term from this control plane. */
bool
raft_report_is_leading(const struct raft_ctl *r,
		       const struct raft_chan_report *rep)
{
	return rep->incarnation == r->dp_incarnation &&
	       rep->ctl_incarnation == r->ctl_incarnation &&
	       rep->term == r->term && rep->role == RAFT_VIEW_LEADER &&
	       rep->term_start != 0 &&
	       !(rep->flags & RAFT_REPORT_F_LEAD_FAILED);
}

/*
 * Leader: has @peer's dataplane (the incarnation its control plane last
 * named) every committed entry of every log, counting entries of earlier
 * terms only once this leader has committed its own no-op there (so
 * nothing committed before this term can be missing)? Dissertation
 * §4.2.1 (catching up new servers) and docs/raft.md, "the diskless rule".
 * A report is a past state, but a past state suffices: match and commit
 * only grow within one incarnation and term, and what commits after the
 * report is counted without this peer while it is amnesic.
 */
bool
raft_peer_is_caught_up(const struct raft_ctl *r, uint8_t peer)
{
	const struct plog *pl = r->meta;
	uint64_t inc = r->peers[peer].incarnation;
	uint16_t p;

	if (inc == 0 || pl->commit < pl->term_start ||
	    pl->peers[peer].match < pl->commit)
		return false;
	for (p = 0; p < r->cfg.partitions; p++) {
		const struct raft_chan_report *rep = &r->rep[p];

		if (!raft_report_is_leading(r, rep) ||
		    rep->commit < rep->term_start ||
		    rep->peer_incarnation[peer] != inc ||
		    rep->match[peer] < rep->commit)
			return false;
	}
	return true;
}

/*
 * Leader: on election, reset every follower's progress and append a
 * no-op of the new term to the meta log (§5.4.2, §8); the dataplane does
 * the same in every partition when its view says leader. Followers are
 * presumed amnesic until they answer.
 */
bool
raft_replication_start(struct raft_ctl *r)
{
	struct lock_entry noop;
	int64_t idx;
	uint8_t i;

	memset(&noop, 0, sizeof(noop));
	noop.op = PLOG_OP_NOOP;
	noop.term = r->term;
	for (i = 0; i < RAFT_NODES_MAX; i++) {
		r->peers[i].contact_ms = r->now;
		r->peers[i].incarnation = 0;
		r->peers[i].amnesic = true;
	}
	idx = plog_append_noop(r->meta, &noop);
	if (idx < 0)
		return false;
	r->meta->term_start = (uint64_t)idx;
	plog_leader_start(r->meta);
	if (r->fx->persist_meta_from == 0 ||
	    r->fx->persist_meta_from > (uint64_t)idx)
		r->fx->persist_meta_from = (uint64_t)idx;
	r->quorum_due = r->now + r->cfg.election_ms;
	r->heartbeat_due = r->now;
	r->dp_contact_ms = r->now;
	return true;
}

/* Leader: send what is ready for @peer (batching, pipelining), naming
 * its dataplane incarnation once it is judged caught up. */
static void
raft_replication_send(struct raft_ctl *r, uint8_t peer, bool heartbeat)
{
	struct raft_msg *m = &r->scratch;
	enum plog_send kind;
	unsigned bound = r->meta->cfg.inflight_max + 1;

	do {
		memset(m, 0, offsetof(struct raft_msg, u));
		kind = plog_leader_send(r->meta, peer, heartbeat, m);
		if (kind == PLOG_SEND_NONE)
			break;
		m->log = raft_meta(r);
		m->term = r->term;
		if (kind == PLOG_SEND_APPEND && r->peers[peer].amnesic &&
		    raft_peer_is_caught_up(r, peer))
			m->u.append.caught_up_incarnation =
				r->peers[peer].incarnation;
		raft_send(r, peer, m);
		heartbeat = false;
	} while (kind == PLOG_SEND_APPEND && --bound > 0);
}

/*
 * Leader transfer (§3.10): TIMEOUT_NOW once the target matches us in
 * every log. Partition reports count only from after the view that
 * stopped proposals (fresh), so no entry can follow what they show.
 */
static void
raft_transfer_check(struct raft_ctl *r)
{
	struct raft_msg *m = &r->scratch;
	uint8_t t = r->transfer_to;
	uint16_t p;

	if (t == RAFT_NONE || r->transfer_sent || r->peers[t].amnesic ||
	    !(r->view.flags & RAFT_VIEW_F_TRANSFER))
		return;
	if (r->meta->peers[t].match != r->meta->last)
		return;
	for (p = 0; p < r->cfg.partitions; p++) {
		const struct raft_chan_report *rep = &r->rep[p];

		if (!raft_report_is_leading(r, rep) ||
		    rep->seq < r->fresh_seq ||
		    rep->match[t] != rep->last.index ||
		    rep->peer_incarnation[t] != r->peers[t].incarnation)
			return;
	}
	memset(m, 0, offsetof(struct raft_msg, u));
	m->type = RAFT_MSG_TIMEOUT_NOW;
	m->term = r->term;
	raft_send(r, t, m);
	r->transfer_sent = true;
}

/*
 * Leader timer: every heartbeat period, resend what is unanswered and
 * send a meta APPEND (empty if nothing is new) to every peer; these are
 * the control-plane heartbeats. Commit is re-evaluated (a single voter
 * commits alone); learners are promoted; a transfer may fire.
 */
void
raft_replication_tick(struct raft_ctl *r)
{
	bool beat = r->now >= r->heartbeat_due;
	uint8_t targets = raft_targets(r), i;

	if (beat)
		r->heartbeat_due = r->now + r->cfg.heartbeat_ms;
	plog_leader_commit(r->meta, r->term, r->voters, raft_counted(r),
			   r->cfg.id);
	for (i = 0; i < RAFT_NODES_MAX; i++) {
		if (!(targets & (1u << i)))
			continue;
		if (beat)
			plog_leader_retransmit(r->meta, i);
		raft_replication_send(r, i, beat);
	}
	raft_membership_promote(r);
	raft_transfer_check(r);
	raft_membership_leave(r);
}

static void
raft_reply_append(struct raft_ctl *r, const struct raft_msg *req, bool success,
		  uint64_t index)
{
	struct raft_msg *m = &r->scratch;

	memset(m, 0, sizeof(*m) - sizeof(m->u) + sizeof(m->u.append_reply));
	m->type = RAFT_MSG_APPEND_REPLY;
	m->log = raft_meta(r);
	m->term = r->term;
	m->u.append_reply.index = index;
	m->u.append_reply.success = success;
	m->u.append_reply.incarnation = r->dp_incarnation;
	m->u.append_reply.amnesic = raft_is_amnesic(r);
	raft_send(r, req->from, m);
}

/* An APPEND or SNAPSHOT from a stale term: tell its sender our term. */
void
raft_replication_refuse(struct raft_ctl *r, const struct raft_msg *m)
{
	raft_reply_append(r, m, false, 0);
}

/* Follower: the current leader spoke (§5.2: reset the election timer). */
static void
raft_follow(struct raft_ctl *r, uint8_t leader)
{
	LATCH_ASSERT(r->role != RAFT_LEADER); /* two leaders in one term */
	if (r->role != RAFT_FOLLOWER)
		raft_convert(r, RAFT_FOLLOWER);
	r->leader = leader;
	r->leader_contact_ms = r->now;
	r->quick_rounds = 0;
	raft_election_timer_reset(r);
}

static void
raft_leader_recv_reply(struct raft_ctl *r, const struct raft_msg *m)
{
	const struct raft_msg_append_reply *rep = &m->u.append_reply;
	struct raft_peer *p = &r->peers[m->from];

	p->contact_ms = r->now;
	if (rep->incarnation < p->incarnation)
		return; /* its control plane knows an older dataplane */
	p->incarnation = rep->incarnation;
	p->amnesic = rep->amnesic || rep->incarnation == 0;
	plog_leader_reply(r->meta, m->from, rep->success, rep->index);
	plog_leader_commit(r->meta, r->term, r->voters, raft_counted(r),
			   r->cfg.id);
	raft_replication_send(r, m->from, false);
	raft_transfer_check(r);
	raft_membership_leave(r);
}

/*
 * Meta APPEND, SNAPSHOT and APPEND_REPLY of the current term
 * (raft_ctl_recv() has handled the term). A follower takes the leader's
 * caught-up verdict for its dataplane's incarnation: persisted in this
 * step, told to the dataplane by the view that ends it; from then on it
 * votes and its acks count again.
 */
void
raft_replication_recv(struct raft_ctl *r, const struct raft_msg *m)
{
	uint64_t index, cu;
	bool ok;

	LATCH_ASSERT(m->term == r->term);
	switch (m->type) {
	case RAFT_MSG_APPEND:
		raft_follow(r, m->from);
		cu = m->u.append.caught_up_incarnation;
		if (cu != 0 && cu == r->dp_incarnation && raft_is_amnesic(r)) {
			r->caught_up_incarnation = cu;
			r->fx->persist_caught_up = true;
		}
		ok = plog_follower_append(r->meta, &m->u.append, &index);
		if (m->u.append.n > 0) {
			raft_membership_update(r);
			if (r->fx->persist_meta_from == 0 ||
			    r->fx->persist_meta_from >
				    m->u.append.prev_index + 1)
				r->fx->persist_meta_from =
					m->u.append.prev_index + 1;
		}
		raft_reply_append(r, m, ok, index);
		break;
	case RAFT_MSG_SNAPSHOT:
		/* The meta log's state (a configuration) is 2 bytes: its
		 * snapshot is always one whole chunk; anything else is not
		 * from a leader of ours. */
		if (m->u.snapshot.offset != 0 || !m->u.snapshot.done ||
		    m->u.snapshot.len != m->u.snapshot.total)
			break;
		raft_follow(r, m->from);
		index = plog_install_snapshot(
			r->meta, m->u.snapshot.index, m->u.snapshot.term,
			m->u.snapshot.data, m->u.snapshot.len);
		raft_membership_update(r);
		r->fx->persist_meta_from = 1;
		raft_reply_append(r, m, true, index);
		break;
	case RAFT_MSG_APPEND_REPLY:
		if (r->role == RAFT_LEADER)
			raft_leader_recv_reply(r, m);
		break;
	default:
		break;
	}
}
