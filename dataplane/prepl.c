/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Partition replication, the dataplane half of Raft (dataplane/prepl.h).
 * Citations: the Raft paper (Ongaro and Ousterhout, 2014) as §N, the
 * dissertation (Ongaro, 2014) as "dissertation §N".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "dataplane/prepl.h"

/* Meta-log ops start here (control/raft/raft.h); never a partition's. */
#define PREPL_OP_RESERVED 0x80
/*
 * A new leader resends to the followers that have not answered yet every
 * PREPL_PROBE_MS, for PREPL_PROBE_BEATS heartbeats, instead of once a
 * heartbeat: its first APPEND often reaches a follower's worker before
 * the view of the new term does, is dropped there, and the first commit
 * (no grant before it) would wait a whole heartbeat (docs/cluster.md,
 * "failover"). Bounded, so a dead follower costs resends only briefly.
 */
#define PREPL_PROBE_MS    1
#define PREPL_PROBE_BEATS 4
/*
 * A puller receiving a snapshot resends its PULL (from the bytes it
 * holds) after a heartbeat period without a chunk, at most this many
 * times in a row: a lost chunk or PULL then costs one period, not a
 * pre-vote round, and a dead source stops the resends after a few
 * periods (its control plane pulls from another voter on its next
 * refused pre-vote). 3 covers the simulator's worst loss (15 % each
 * way) with about 1 % of transfers stopping for a round.
 */
#define PREPL_PULL_TRIES 3

/* plog -> lock state machine; the no-op stays inside. */
static void
prepl_apply_cb(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct prepl *pp = ctx;

	if (e->op != PLOG_OP_NOOP)
		pp->ops.apply(pp->ctx, index, e);
}

static uint32_t
prepl_save_cb(void *ctx, uint8_t *buf, uint32_t max)
{
	struct prepl *pp = ctx;

	return pp->ops.save(pp->ctx, buf, max);
}

static void
prepl_load_cb(void *ctx, const uint8_t *buf, uint32_t len)
{
	struct prepl *pp = ctx;

	pp->ops.load(pp->ctx, buf, len);
}

static void
prepl_prefetch_cb(void *ctx, const struct lock_entry *const *e, unsigned n)
{
	struct prepl *pp = ctx;

	if (pp->ops.prefetch != NULL)
		pp->ops.prefetch(pp->ctx, e, n);
}

static const struct plog_ops prepl_plog_ops = {
	.apply = prepl_apply_cb,
	.save = prepl_save_cb,
	.load = prepl_load_cb,
	.prefetch = prepl_prefetch_cb,
};

/* Forget the view and leadership (start-up and dataplane restart). */
static void
prepl_forget(struct prepl *pp)
{
	memset(&pp->view, 0, sizeof(pp->view));
	pp->view.leader = RAFT_NONE;
	pp->leading = false;
	pp->lead_failed = false;
	pp->taken_over = false;
	pp->seen_term = 0;
	pp->seen_from = 0;
	pp->pull_from = RAFT_NONE;
	pp->pull_tries = 0;
	pp->pull_have = 0;
	pp->pull_due = 0;
	memset(pp->peers, 0, sizeof(pp->peers));
}

/* Start-up only: allocate the replicator and its log. */
struct prepl *
prepl_create(const struct prepl_config *cfg, const struct prepl_ops *ops,
	     void *ctx, uint64_t incarnation)
{
	struct prepl *pp;

	if (cfg->id >= RAFT_NODES_MAX || cfg->heartbeat_ms == 0 ||
	    incarnation == 0 || plog_config_check(&cfg->log) != 0) {
		errno = EINVAL;
		return NULL;
	}
	pp = calloc(1, sizeof(*pp));
	if (pp == NULL)
		return NULL;
	pp->cfg = *cfg;
	pp->ops = *ops;
	pp->ctx = ctx;
	pp->incarnation = incarnation;
	pp->log = plog_create(&cfg->log, &prepl_plog_ops, pp);
	if (pp->log == NULL)
		goto free_pp;
	prepl_forget(pp);
	return pp;

free_pp:
	free(pp);
	errno = ENOMEM;
	return NULL;
}

void
prepl_destroy(struct prepl *pp)
{
	if (pp == NULL)
		return;
	plog_destroy(pp->log);
	free(pp);
}

/*
 * The dataplane restarted: memory is gone (DESIGN.md, "a dataplane
 * restart loses that node's in-memory logs"). The new incarnation is
 * amnesic until its control plane's view names it caught up, and obeys
 * no view meant for an earlier incarnation. Reports at once so the
 * control plane learns of the restart.
 */
void
prepl_restart(struct prepl *pp, uint64_t now, uint64_t incarnation)
{
	LATCH_ASSERT(incarnation > pp->incarnation);
	pp->incarnation = incarnation;
	plog_reset(pp->log);
	prepl_forget(pp);
	pp->now = now;
	pp->report_due = now;
}

/* Tell the control plane where this partition stands. */
static void
prepl_report(struct prepl *pp)
{
	struct raft_chan_report *r = &pp->rep;
	const struct plog *pl = pp->log;
	unsigned i;

	memset(r, 0, sizeof(*r));
	r->ctl_incarnation = pp->view.ctl_incarnation;
	r->seq = pp->view.seq;
	r->incarnation = pp->incarnation;
	r->term = pp->view.term;
	r->seen_term = pp->seen_term;
	r->seen_from = pp->seen_from;
	r->last = plog_last_pos(pl);
	r->commit = pl->commit;
	r->applied = pl->applied;
	r->partition = pp->cfg.partition;
	r->role = pp->view.role;
	if (prepl_is_amnesic(pp))
		r->flags |= RAFT_REPORT_F_AMNESIC;
	if (pp->lead_failed)
		r->flags |= RAFT_REPORT_F_LEAD_FAILED;
	if (pp->leading) {
		r->term_start = pl->term_start;
		for (i = 0; i < RAFT_NODES_MAX; i++) {
			r->match[i] = pl->peers[i].match;
			r->peer_incarnation[i] = pp->peers[i].incarnation;
		}
	}
	pp->seen_term = 0;
	pp->seen_from = 0;
	pp->report_due = pp->now + pp->cfg.heartbeat_ms;
	pp->ops.report(pp->ctx, r);
}

/* A message of another term (or of an unknown leader) came: report it,
 * so the control plane adopts the term or the leader first. */
static void
prepl_saw(struct prepl *pp, uint64_t term, uint8_t from)
{
	if (term >= pp->seen_term) {
		pp->seen_term = term;
		pp->seen_from = from;
	}
	prepl_report(pp);
}

static void prepl_pull(struct prepl *pp, uint8_t from, struct raft_pos last);

/*
 * Become leader of view.term (§5.2 won by the control plane): append a
 * no-op of the new term (§5.4.2, §8: earlier entries commit with it and
 * takeover can happen), reset every follower's progress (Figure 2,
 * "reinitialized after election"), presume every follower amnesic until
 * its replies say otherwise. A full ring of unapplied entries makes this
 * node unable to lead (docs/raft.md, "ring sizing"): reported up. Such a
 * ring often holds entries committed elsewhere that this node was never
 * told of (its leader died before saying so), so it also asks every peer
 * for its tail and commit index (a PULL): what a peer knows committed is
 * then committed, applied and compacted here, and the next term's no-op
 * fits.
 */
static void
prepl_lead(struct prepl *pp)
{
	struct lock_entry noop;
	int64_t idx;
	uint8_t peers, i;

	memset(&noop, 0, sizeof(noop));
	noop.op = PLOG_OP_NOOP;
	noop.term = pp->view.term;
	if (prepl_is_amnesic(pp)) {
		pp->lead_failed = true;
		return;
	}
	idx = plog_append_noop(pp->log, &noop);
	if (idx < 0) {
		pp->lead_failed = true;
		peers = (uint8_t)((pp->view.voters | pp->view.learners) &
				  ~(1u << pp->cfg.id));
		for (i = 0; i < RAFT_NODES_MAX; i++)
			if (peers & (1u << i))
				prepl_pull(pp, i, plog_last_pos(pp->log));
		return;
	}
	pp->log->term_start = (uint64_t)idx;
	plog_leader_start(pp->log);
	memset(pp->peers, 0, sizeof(pp->peers));
	pp->leading = true;
	pp->taken_over = false;
	pp->heartbeat_due = pp->now;
	pp->probe_due = pp->now + PREPL_PROBE_MS;
	pp->probe_until = pp->now + PREPL_PROBE_BEATS * pp->cfg.heartbeat_ms;
}

static void
prepl_apply_view(struct prepl *pp, const struct raft_chan_view *v)
{
	bool lead = v->role == RAFT_VIEW_LEADER;

	if (v->dp_incarnation != pp->incarnation)
		return; /* meant for this dataplane before a restart */
	if (v->ctl_incarnation < pp->view.ctl_incarnation ||
	    (v->ctl_incarnation == pp->view.ctl_incarnation &&
	     v->seq <= pp->view.seq))
		return; /* stale or duplicate */
	if (v->term < pp->view.term)
		return; /* terms never go back (persisted first) */
	LATCH_ASSERT(!lead || v->leader == pp->cfg.id);
	if (v->term != pp->view.term) {
		pp->leading = false;
		pp->lead_failed = false;
	}
	if (!lead)
		pp->leading = false;
	pp->view = *v;
	if (lead && !pp->leading && !pp->lead_failed)
		prepl_lead(pp);
	prepl_report(pp);
}

static void
prepl_send(struct prepl *pp, uint8_t to, struct raft_msg *m)
{
	m->from = pp->cfg.id;
	m->to = to;
	m->log = pp->cfg.partition;
	pp->ops.send(pp->ctx, m);
}

/*
 * PULL (docs/raft.md, "pull"): ask @from for the entries after ours or,
 * if it compacted them, its snapshot, resuming after the bytes of it we
 * hold ("Pulling a snapshot").
 */
static void
prepl_pull(struct prepl *pp, uint8_t from, struct raft_pos last)
{
	struct raft_msg *m = &pp->scratch;

	memset(m, 0, sizeof(*m) - sizeof(m->u) + sizeof(m->u.pull));
	m->type = RAFT_MSG_PULL;
	m->term = pp->view.term;
	m->u.pull.last = last;
	m->u.pull.commit = pp->log->commit;
	plog_pull_progress(pp->log, from, &m->u.pull);
	prepl_send(pp, from, m);
}

/* May this partition take a peer's tail? Never as leader, never with
 * amnesia (a pull does not make a log complete). */
static bool
prepl_may_pull(const struct prepl *pp)
{
	return pp->view.seq != 0 && !pp->leading && !prepl_is_amnesic(pp);
}

void
prepl_chan(struct prepl *pp, const struct raft_chan_down *d, uint64_t now)
{
	LATCH_ASSERT(now >= pp->now);
	pp->now = now;
	if (d->partition != RAFT_CHAN_ALL && d->partition != pp->cfg.partition)
		return;
	switch (d->type) {
	case RAFT_CHAN_VIEW:
		prepl_apply_view(pp, &d->u.view);
		break;
	case RAFT_CHAN_PULL:
		if (prepl_may_pull(pp) && d->u.pull.from < RAFT_NODES_MAX &&
		    d->u.pull.from != pp->cfg.id)
			prepl_pull(pp, d->u.pull.from, plog_last_pos(pp->log));
		break;
	default:
		break;
	}
}

/* Voters whose acks count: the view's, minus what replies say amnesic. */
static uint8_t
prepl_counted(const struct prepl *pp)
{
	uint8_t set = pp->view.counted & pp->view.voters, i;

	for (i = 0; i < RAFT_NODES_MAX; i++)
		if (pp->peers[i].amnesic || pp->peers[i].incarnation == 0)
			set &= (uint8_t) ~(1u << i);
	return set;
}

/* Leader: commit (§5.4.2) and take over once earlier entries applied. */
static void
prepl_commit(struct prepl *pp)
{
	struct plog *pl = pp->log;

	plog_leader_commit(pl, pp->view.term, pp->view.voters,
			   prepl_counted(pp), pp->cfg.id);
	if (!pp->taken_over && pl->applied >= pl->term_start) {
		pp->taken_over = true;
		pp->ops.takeover(pp->ctx, pp->now);
	}
}

/* Leader: send what is ready for @peer (batching, pipelining, §5.3). */
static void
prepl_flush(struct prepl *pp, uint8_t peer, bool heartbeat)
{
	struct raft_msg *m = &pp->scratch;
	enum plog_send kind;
	unsigned bound = pp->log->cfg.inflight_max + 1;

	do {
		memset(m, 0, offsetof(struct raft_msg, u));
		kind = plog_leader_send(pp->log, peer, heartbeat, m);
		if (kind == PLOG_SEND_NONE)
			break;
		if (kind == PLOG_SEND_SNAPSHOT)
			m->u.snapshot.incarnation = pp->incarnation;
		m->term = pp->view.term;
		prepl_send(pp, peer, m);
		heartbeat = false;
	} while (--bound > 0);
}

static void
prepl_reply(struct prepl *pp, const struct raft_msg *req, bool success,
	    uint64_t index)
{
	struct raft_msg *m = &pp->scratch;

	memset(m, 0, sizeof(*m) - sizeof(m->u) + sizeof(m->u.append_reply));
	m->type = RAFT_MSG_APPEND_REPLY;
	m->term = pp->view.term;
	m->u.append_reply.index = index;
	m->u.append_reply.success = success;
	m->u.append_reply.incarnation = pp->incarnation;
	m->u.append_reply.amnesic = prepl_is_amnesic(pp);
	prepl_send(pp, req->from, m);
}

/* Leader: a SNAPSHOT_REPLY: the follower holds part of the snapshot. */
static void
prepl_snapshot_reply(struct prepl *pp, const struct raft_msg *req,
		     uint32_t have)
{
	struct raft_msg *m = &pp->scratch;

	memset(m, 0, sizeof(*m) - sizeof(m->u) + sizeof(m->u.snapshot_reply));
	m->type = RAFT_MSG_SNAPSHOT_REPLY;
	m->term = pp->view.term;
	m->u.snapshot_reply.index = req->u.snapshot.index;
	m->u.snapshot_reply.offset = have;
	m->u.snapshot_reply.incarnation = pp->incarnation;
	m->u.snapshot_reply.amnesic = prepl_is_amnesic(pp);
	prepl_send(pp, req->from, m);
}

/*
 * Leader: a reply's sender incarnation. False for a reply from before the
 * peer's dataplane restarted; a newer incarnation lost its log, so its
 * progress starts over.
 */
static bool
prepl_leader_peer(struct prepl *pp, uint8_t from, uint64_t incarnation,
		  bool amnesic)
{
	struct prepl_peer *p = &pp->peers[from];

	if (incarnation < p->incarnation)
		return false;
	if (incarnation > p->incarnation) {
		if (p->incarnation != 0)
			plog_leader_reset_peer(pp->log, from);
		p->incarnation = incarnation;
	}
	p->amnesic = amnesic;
	return true;
}

/* Leader: a follower worker's reply (Figure 2, "Rules for Servers"). */
static void
prepl_leader_reply(struct prepl *pp, const struct raft_msg *m)
{
	const struct raft_msg_append_reply *rep = &m->u.append_reply;
	const struct raft_msg_snapshot_reply *sr = &m->u.snapshot_reply;

	if (m->type == RAFT_MSG_SNAPSHOT_REPLY) {
		if (!prepl_leader_peer(pp, m->from, sr->incarnation,
				       sr->amnesic))
			return;
		plog_leader_snapshot_reply(pp->log, m->from, sr->index,
					   sr->offset);
	} else {
		if (!prepl_leader_peer(pp, m->from, rep->incarnation,
				       rep->amnesic))
			return;
		plog_leader_reply(pp->log, m->from, rep->success, rep->index);
	}
	pp->peers[m->from].heard = true;
	prepl_commit(pp);
	prepl_flush(pp, m->from, false);
}

/* Follower: APPEND or SNAPSHOT of the view's term from its leader. */
static void
prepl_follow(struct prepl *pp, const struct raft_msg *m)
{
	uint64_t index;
	uint32_t have;
	bool ok;

	if (m->type == RAFT_MSG_APPEND) {
		ok = plog_follower_append(pp->log, &m->u.append, &index);
		prepl_reply(pp, m, ok, index);
		return;
	}
	switch (plog_install_chunk(pp->log, &m->u.snapshot, m->term, &index,
				   &have)) {
	case PLOG_CHUNK_DONE:
		prepl_reply(pp, m, true, index);
		break;
	case PLOG_CHUNK_MORE:
		prepl_snapshot_reply(pp, m, have);
		break;
	default:
		break; /* malformed: the leader's config differs; dropped */
	}
}

static bool
prepl_msg_is_valid(const struct prepl *pp, const struct raft_msg *m)
{
	if (m->to != pp->cfg.id || m->from >= RAFT_NODES_MAX ||
	    m->from == pp->cfg.id || m->log != pp->cfg.partition)
		return false;
	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_PULL_REPLY:
		return m->u.append.n <= pp->log->cfg.batch_max;
	case RAFT_MSG_SNAPSHOT:
		return m->u.snapshot.len <= RAFT_SNAPSHOT_MAX &&
		       m->u.snapshot.total <= pp->log->cfg.snapshot_max;
	case RAFT_MSG_APPEND_REPLY:
	case RAFT_MSG_SNAPSHOT_REPLY:
	case RAFT_MSG_PULL:
		return true;
	default:
		return false;
	}
}

/*
 * APPEND/SNAPSHOT: only at exactly the view's term, from its leader, or
 * from any node while the view names none (§5.2: one leader per term, so
 * whoever sends an APPEND of the view's term is its leader; §5.1: a
 * candidate that hears from it steps down anyway). A voter's view names
 * the new leader only once its control plane heard of it, a round of the
 * meta log after the vote; until then the leader's first APPENDs were
 * dropped and waited for a resend, milliseconds of every failover. Votes
 * stay safe: a vote waits for reports of a view of its own, higher term,
 * and that view refuses every APPEND of a lower one (docs/raft.md).
 */
static void
prepl_recv_append(struct prepl *pp, const struct raft_msg *m)
{
	if (m->term > pp->view.term) {
		prepl_saw(pp, m->term, m->from);
		return;
	}
	if (m->term < pp->view.term) {
		prepl_reply(pp, m, false, 0); /* its sender learns our term */
		return;
	}
	/* Two leaders in one term would be a broken election. */
	LATCH_ASSERT(pp->view.role != RAFT_VIEW_LEADER);
	if (pp->view.role == RAFT_VIEW_FOLLOWER && m->from != pp->view.leader) {
		prepl_saw(pp, m->term, m->from);
		return;
	}
	prepl_follow(pp, m);
}

static void
prepl_recv_pull_reply(struct prepl *pp, const struct raft_msg *m)
{
	const struct raft_msg_append *a = &m->u.append;
	struct raft_pos pos;
	uint64_t matched, commit = pp->log->commit;
	uint32_t taken;

	if (!prepl_may_pull(pp))
		return;
	taken = plog_pull_apply(pp->log, a, &matched);
	/* A batch all taken or matching: ask for the next (a batch may be
	 * short of batch_max by its bytes; after the last one the source
	 * has nothing to send and does not answer). */
	if (a->n > 0 && matched == a->prev_index + a->n) {
		pos.index = matched;
		LATCH_ASSERT(plog_term_at(pp->log, matched, &pos.term));
		prepl_pull(pp, m->from, pos);
	}
	if (taken > 0 || pp->log->commit != commit)
		prepl_report(pp); /* the pre-candidate's positions moved */
}

/*
 * May this partition take a pulled snapshot? As for entries, and not
 * while its view names a leader: that leader catches it up by its own
 * transfer, which uses the same receive buffer, and the two must not
 * start each other over. A node pulls when its control plane is a
 * pre-candidate (the view names no leader) or failed to lead.
 */
static bool
prepl_may_pull_snapshot(const struct prepl *pp)
{
	return prepl_may_pull(pp) && pp->view.role != RAFT_VIEW_FOLLOWER;
}

/*
 * Puller: a chunk of a peer's snapshot answering our PULL (docs/raft.md,
 * "Pulling a snapshot"). Taken only while we may pull a snapshot (not
 * leading, not amnesic, no leader in the view), never acknowledged. The
 * last chunk of an answer asks for the next ones; a complete snapshot is
 * reported (the pre-candidate's positions moved) and followed by a PULL
 * of the entries after it and the source's commit index.
 */
static void
prepl_recv_pull_chunk(struct prepl *pp, const struct raft_msg *m)
{
	struct plog *pl = pp->log;
	uint64_t commit = pl->commit, index;
	uint32_t have;

	if (!prepl_may_pull_snapshot(pp))
		return;
	switch (plog_pull_chunk(pl, &m->u.snapshot, m->from, &index, &have)) {
	case PLOG_CHUNK_DONE:
		if (pp->pull_from == m->from)
			pp->pull_from = RAFT_NONE;
		if (pl->commit == commit)
			break; /* a late duplicate, or covered meanwhile */
		prepl_report(pp);
		prepl_pull(pp, m->from, plog_last_pos(pl));
		break;
	case PLOG_CHUNK_MORE:
		if (pp->pull_from != m->from || have > pp->pull_have)
			pp->pull_tries = 0;
		pp->pull_from = m->from;
		pp->pull_have = have;
		pp->pull_due = pp->now + pp->cfg.heartbeat_ms;
		if (m->u.snapshot.flags & RAFT_SNAPSHOT_F_ASK)
			prepl_pull(pp, m->from, plog_last_pos(pl));
		break;
	default:
		break; /* malformed: dropped */
	}
}

/*
 * Source: a PULL (docs/raft.md, "pull"). Answered with entries after
 * what the puller holds, or, when those were compacted here, with up to
 * inflight_max chunks of our snapshot from where the puller's bytes of it
 * end; nothing while amnesic (our log may lack committed entries).
 */
static void
prepl_serve_pull(struct prepl *pp, const struct raft_msg *req)
{
	const struct raft_msg_pull pull = req->u.pull;
	uint8_t to = req->from;
	struct raft_msg *out = &pp->scratch;
	uint32_t window = pp->log->cfg.inflight_max, k;

	if (prepl_is_amnesic(pp))
		return;
	memset(out, 0, offsetof(struct raft_msg, u));
	if (plog_pull_fill(pp->log, pull.last, pull.commit, &out->u.append)) {
		out->type = RAFT_MSG_PULL_REPLY;
		out->term = pp->view.term;
		prepl_send(pp, to, out);
		return;
	}
	if (!plog_pull_needs_snapshot(pp->log, pull.last, pull.commit))
		return;
	for (k = 0; k < window; k++) {
		memset(out, 0, offsetof(struct raft_msg, u));
		if (!plog_pull_snapshot_fill(pp->log, &pull, pp->incarnation, k,
					     window, &out->u.snapshot))
			break;
		out->type = RAFT_MSG_SNAPSHOT;
		out->term = pp->view.term;
		prepl_send(pp, to, out);
	}
}

void
prepl_recv(struct prepl *pp, const struct raft_msg *m, uint64_t now)
{
	LATCH_ASSERT(now >= pp->now);
	pp->now = now;
	if (!prepl_msg_is_valid(pp, m) || pp->view.seq == 0)
		return; /* no view yet: no term to judge by */
	switch (m->type) {
	case RAFT_MSG_SNAPSHOT:
		if (m->u.snapshot.flags & RAFT_SNAPSHOT_F_PULLED)
			prepl_recv_pull_chunk(pp, m);
		else
			prepl_recv_append(pp, m);
		break;
	case RAFT_MSG_APPEND:
		prepl_recv_append(pp, m);
		break;
	case RAFT_MSG_APPEND_REPLY:
	case RAFT_MSG_SNAPSHOT_REPLY:
		if (m->term > pp->view.term)
			prepl_saw(pp, m->term, m->from);
		else if (pp->leading && m->term == pp->view.term)
			prepl_leader_reply(pp, m);
		break;
	case RAFT_MSG_PULL:
		prepl_serve_pull(pp, m);
		break;
	case RAFT_MSG_PULL_REPLY:
		prepl_recv_pull_reply(pp, m);
		break;
	default:
		break;
	}
}

int64_t
prepl_propose(struct prepl *pp, const struct lock_entry *e, uint64_t now)
{
	struct lock_entry copy = *e;

	LATCH_ASSERT(now >= pp->now);
	pp->now = now;
	if (!pp->leading)
		return -ENOTCONN;
	if (pp->view.flags & RAFT_VIEW_F_TRANSFER)
		return -EBUSY;
	if (e->op == PLOG_OP_NOOP || e->op >= PREPL_OP_RESERVED)
		return -EINVAL;
	copy.term = pp->view.term;
	return plog_append(pp->log, &copy);
}

/*
 * Leader: every heartbeat period, assume what is unanswered was lost,
 * resend from matchIndex and send an APPEND (empty if nothing is new) to
 * every voter and learner; in between, send what was proposed since the
 * last tick (batching). Commit is re-evaluated (a single voter commits
 * alone). Any role: report every heartbeat period.
 */
uint64_t
prepl_tick(struct prepl *pp, uint64_t now)
{
	uint8_t targets, i;
	bool beat, probe, resend, probing = false;
	uint64_t due;

	LATCH_ASSERT(now >= pp->now);
	pp->now = now;
	if (pp->leading) {
		beat = now >= pp->heartbeat_due;
		if (beat)
			pp->heartbeat_due = now + pp->cfg.heartbeat_ms;
		probing = now < pp->probe_until;
		probe = probing && now >= pp->probe_due;
		if (probe)
			pp->probe_due = now + PREPL_PROBE_MS;
		targets = (uint8_t)((pp->view.voters | pp->view.learners) &
				    ~(1u << pp->cfg.id));
		prepl_commit(pp);
		for (i = 0; i < RAFT_NODES_MAX; i++) {
			if (!(targets & (1u << i)))
				continue;
			resend = beat || (probe && !pp->peers[i].heard);
			if (resend)
				plog_leader_retransmit(pp->log, i);
			prepl_flush(pp, i, resend);
		}
	}
	if (pp->pull_from != RAFT_NONE && now >= pp->pull_due) {
		if (prepl_may_pull_snapshot(pp) &&
		    pp->pull_tries < PREPL_PULL_TRIES) {
			pp->pull_tries++;
			pp->pull_due = now + pp->cfg.heartbeat_ms;
			prepl_pull(pp, pp->pull_from, plog_last_pos(pp->log));
		} else {
			pp->pull_from = RAFT_NONE;
		}
	}
	if (now >= pp->report_due)
		prepl_report(pp);
	due = pp->report_due;
	if (pp->leading && pp->heartbeat_due < due)
		due = pp->heartbeat_due;
	if (probing && pp->probe_due < due)
		due = pp->probe_due;
	if (pp->pull_from != RAFT_NONE && pp->pull_due < due)
		due = pp->pull_due;
	return due;
}
