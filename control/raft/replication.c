/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Log replication driven by the leader (paper §5.3, §5.4.2, §7) over every
 * log of the node, and the follower's side of APPEND and SNAPSHOT. The
 * per-log rules live in dataplane/plog.c; here are the parts that need the
 * whole node: the term, peers' incarnations (the diskless rule), commit
 * counting over the configuration, takeover, catch-up of learners and
 * amnesic nodes, and the leader-transfer trigger.
 */
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"

/* Voters whose acks count toward commit: not amnesic (docs/raft.md). */
static uint8_t
raft_counted(const struct raft *r)
{
	uint8_t set = (uint8_t)(1u << r->cfg.id), i;

	for (i = 0; i < RAFT_NODES_MAX; i++)
		if (!r->peers[i].amnesic)
			set |= (uint8_t)(1u << i);
	return set & r->voters;
}

static uint8_t
raft_targets(const struct raft *r)
{
	return (uint8_t)((r->voters | r->learners) & ~(1u << r->cfg.id));
}

/*
 * Leader: has @peer every committed entry of every log, counting entries
 * of earlier terms only once this leader has committed its own no-op
 * there (so nothing committed before this term can be missing)?
 * Dissertation §4.2.1 (catching up new servers) and docs/raft.md, "the
 * diskless rule".
 */
bool
raft_peer_is_caught_up(const struct raft *r, uint8_t peer)
{
	uint16_t l;

	for (l = 0; l < r->logs; l++) {
		const struct plog *pl = r->log[l];

		if (pl->commit < pl->term_start ||
		    pl->peers[peer].match < pl->commit)
			return false;
	}
	return true;
}

/*
 * Leader: on election, reset every follower's progress and append a
 * no-op of the new term to every log, so that earlier entries commit
 * (§5.4.2, §8) and takeover can happen. Followers are presumed amnesic
 * until they answer (their acks then say).
 */
bool
raft_replication_start(struct raft *r)
{
	struct lock_entry noop;
	uint16_t l;
	uint8_t i;

	memset(&noop, 0, sizeof(noop));
	noop.op = PLOG_OP_NOOP;
	noop.term = r->term;
	for (i = 0; i < RAFT_NODES_MAX; i++) {
		r->peers[i].contact_ms = r->now;
		r->peers[i].incarnation = 0;
		r->peers[i].amnesic = true;
		r->peers[i].caught_up_sent = false;
	}
	for (l = 0; l < r->logs; l++) {
		struct plog *pl = r->log[l];
		int64_t idx = plog_append_noop(pl, &noop);

		/* The ring limits in plog.c leave a slot for the no-op;
		 * should it be missing anyway, this node cannot lead. */
		if (idx < 0)
			return false;
		pl->term_start = (uint64_t)idx;
		plog_leader_start(pl);
		r->taken_over[l] = false;
	}
	r->fx->persist_meta_from = r->log[raft_meta(r)]->last;
	r->quorum_due = r->now + r->cfg.election_ms;
	r->heartbeat_due = r->now;
	return true;
}

static void
raft_replication_send(struct raft *r, uint16_t l, uint8_t peer, bool heartbeat)
{
	struct raft_msg *m = &r->scratch;
	enum plog_send kind;
	unsigned bound = r->log[l]->cfg.inflight_max + 1;

	do {
		memset(m, 0, offsetof(struct raft_msg, u));
		kind = plog_leader_send(r->log[l], peer, heartbeat, m);
		if (kind == PLOG_SEND_NONE)
			break;
		m->log = l;
		m->term = r->term;
		if (kind == PLOG_SEND_APPEND && r->peers[peer].amnesic &&
		    r->peers[peer].incarnation != 0 &&
		    raft_peer_is_caught_up(r, peer))
			m->u.append.caught_up_incarnation =
				r->peers[peer].incarnation;
		raft_send(r, peer, m);
		heartbeat = false;
	} while (kind == PLOG_SEND_APPEND && --bound > 0);
}

/* Leader: send what is ready for @peer on log @l (batching, pipelining). */
void
raft_replication_flush(struct raft *r, uint16_t l, uint8_t peer)
{
	raft_replication_send(r, l, peer, false);
}

/* Leader: takeover once every earlier entry of a partition is applied. */
static void
raft_replication_commit(struct raft *r, uint16_t l)
{
	struct plog *pl = r->log[l];

	plog_leader_commit(pl, r->term, r->voters, raft_counted(r), r->cfg.id);
	if (l != raft_meta(r) && !r->taken_over[l] &&
	    pl->applied >= pl->term_start) {
		r->taken_over[l] = true;
		r->ops.takeover(r->ctx, l, r->now);
	}
}

/* Leader transfer (§3.10): TIMEOUT_NOW once the target matches us. */
static void
raft_transfer_check(struct raft *r)
{
	struct raft_msg *m = &r->scratch;
	uint8_t t = r->transfer_to;
	uint16_t l;

	if (t == RAFT_NONE || r->transfer_sent)
		return;
	for (l = 0; l < r->logs; l++)
		if (r->log[l]->peers[t].match != r->log[l]->last)
			return;
	if (r->peers[t].amnesic)
		return;
	memset(m, 0, offsetof(struct raft_msg, u));
	m->type = RAFT_MSG_TIMEOUT_NOW;
	m->term = r->term;
	raft_send(r, t, m);
	r->transfer_sent = true;
}

/*
 * Leader timer: every heartbeat period, resend what is unanswered and
 * send an APPEND (empty if nothing is new) on every log to every peer;
 * in between, send new entries (batched since the last tick). Commit is
 * re-evaluated, which lets a single-voter cluster commit alone.
 */
void
raft_replication_tick(struct raft *r)
{
	bool beat = r->now >= r->heartbeat_due;
	uint8_t targets = raft_targets(r), i;
	uint16_t l;

	if (beat)
		r->heartbeat_due = r->now + r->cfg.heartbeat_ms;
	for (l = 0; l < r->logs; l++) {
		raft_replication_commit(r, l);
		for (i = 0; i < RAFT_NODES_MAX; i++) {
			if (!(targets & (1u << i)))
				continue;
			if (beat)
				plog_leader_retransmit(r->log[l], i);
			raft_replication_send(r, l, i, beat);
		}
	}
	raft_membership_promote(r);
	raft_transfer_check(r);
}

static void
raft_reply_append(struct raft *r, const struct raft_msg *req, bool success,
		  uint64_t index)
{
	struct raft_msg *m = &r->scratch;

	memset(m, 0, sizeof(*m) - sizeof(m->u) + sizeof(m->u.append_reply));
	m->type = RAFT_MSG_APPEND_REPLY;
	m->log = req->log;
	m->term = r->term;
	m->u.append_reply.index = index;
	m->u.append_reply.success = success;
	m->u.append_reply.incarnation = r->incarnation;
	m->u.append_reply.amnesic = raft_is_amnesic(r);
	raft_send(r, req->from, m);
}

/* An APPEND or SNAPSHOT from a stale term: tell its sender our term. */
void
raft_replication_refuse(struct raft *r, const struct raft_msg *m)
{
	raft_reply_append(r, m, false, 0);
}

/* Follower: the current leader spoke (§5.2: reset the election timer). */
static void
raft_follow(struct raft *r, uint8_t leader)
{
	LATCH_ASSERT(r->role != RAFT_LEADER); /* two leaders in one term */
	if (r->role != RAFT_FOLLOWER)
		raft_convert(r, RAFT_FOLLOWER);
	r->leader = leader;
	r->leader_contact_ms = r->now;
	raft_election_timer_reset(r);
}

static void
raft_leader_recv_reply(struct raft *r, const struct raft_msg *m)
{
	const struct raft_msg_append_reply *rep = &m->u.append_reply;
	struct raft_peer *p = &r->peers[m->from];
	uint16_t l;

	p->contact_ms = r->now;
	if (rep->incarnation < p->incarnation)
		return; /* from before the peer's dataplane restarted */
	if (rep->incarnation > p->incarnation) {
		/* The peer lost its partition logs: start it over. */
		if (p->incarnation != 0)
			for (l = 0; l < raft_meta(r); l++)
				plog_leader_reset_peer(r->log[l], m->from);
		p->incarnation = rep->incarnation;
		p->caught_up_sent = false;
	}
	p->amnesic = rep->amnesic;
	plog_leader_reply(r->log[m->log], m->from, rep->success, rep->index);
	raft_replication_commit(r, m->log);
	raft_replication_flush(r, m->log, m->from);
	raft_transfer_check(r);
}

/*
 * APPEND, SNAPSHOT and APPEND_REPLY of the current term (raft_recv() has
 * handled the term). Followers apply the leader's caught-up verdict for
 * their incarnation: from then on they vote and count again.
 */
void
raft_replication_recv(struct raft *r, const struct raft_msg *m)
{
	uint64_t index;
	bool ok;

	LATCH_ASSERT(m->term == r->term);
	switch (m->type) {
	case RAFT_MSG_APPEND:
		raft_follow(r, m->from);
		if (m->u.append.caught_up_incarnation == r->incarnation &&
		    raft_is_amnesic(r)) {
			r->caught_up_incarnation = r->incarnation;
			r->fx->persist_caught_up = true;
		}
		ok = plog_follower_append(r->log[m->log], &m->u.append, &index);
		if (m->log == raft_meta(r) && m->u.append.n > 0) {
			raft_membership_update(r);
			r->fx->persist_meta_from = m->u.append.prev_index + 1;
		}
		raft_reply_append(r, m, ok, index);
		break;
	case RAFT_MSG_SNAPSHOT:
		raft_follow(r, m->from);
		if (m->u.snapshot.len > r->log[m->log]->cfg.snapshot_max)
			break; /* malformed: drop */
		index = plog_install_snapshot(
			r->log[m->log], m->u.snapshot.index, m->u.snapshot.term,
			m->u.snapshot.data, m->u.snapshot.len);
		if (m->log == raft_meta(r)) {
			raft_membership_update(r);
			r->fx->persist_meta_from = 1;
		}
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
