/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-sim: the deterministic cluster simulator (docs/raft.md).
 *
 * One process runs a cluster of 3 or 5 nodes. Each node is composed as in
 * the product: a control half (control/raft, latch-control's core), P
 * partition replicators (dataplane/prepl, one per latchd worker), and the
 * local control channel between them, a FIFO queue with delay and loss.
 * The network between nodes drops, duplicates, delays (and so reorders)
 * messages and cuts links (both ways or one). Faults: crashes of the
 * dataplane alone (its partition logs are lost: amnesia, new incarnation),
 * of the control plane alone (term, vote and meta log kept; the dataplane
 * runs on without views), and of both; leader transfers; a server joining
 * as learner; clients taking and releasing locks through the leader's
 * workers. Time is simulated in milliseconds; all randomness comes from
 * one PRNG seeded by the seed, so `latch-sim --seed S` replays a run.
 *
 * After every step it checks: at most one leader per term (control or
 * dataplane); log matching (same index and term => same entry and same
 * history); committed entries never change and every new leader (meta
 * log: the control half; each partition: its replicator) holds them all;
 * fencing tokens told to clients increase with log position, per lock; a
 * dataplane that lost its logs backs no granted vote, and is not declared
 * caught up, before holding everything committed before its crash. After
 * the chaos the network heals and every process restarts; a leader must
 * then be elected and clients' operations complete within a bound.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"
#include "dataplane/prepl.h"
#include "tests/sim/sim_sm.h"

#define SIM_NODES_MAX 5
#define SIM_PARTS_MAX 4
#define SIM_LOGS_MAX  (SIM_PARTS_MAX + 1)
#define SIM_CLIENTS   4
/* Delays are below the wheel size, so one bucket holds one instant. */
#define SIM_WHEEL     64
#define SIM_DELAY_MAX 40
#define SIM_POOL      16384
/* Local channel: queue bound and delay bound (a Unix socket is fast). */
#define SIM_CHAN_MAX       256
#define SIM_CHAN_DELAY_MAX 6
/* Reference history bounds: indices and distinct terms per index. */
#define SIM_IDX_MAX       8192
#define SIM_TERMS_PER_IDX 6
#define SIM_TERM_MAX      65536
#define SIM_GRANTS_MAX    2048
/* Phases (simulated ms): chaos, then heal with a liveness bound. */
#define SIM_CHAOS_MS          8000
#define SIM_HEAL_MS           4000
#define SIM_TICK_MS           5
#define SIM_ELECTION_MS       100
#define SIM_HEARTBEAT_MS      20
#define SIM_CLIENT_TIMEOUT_MS 300

struct sim_msg {
	int32_t next;
	uint64_t at;
	struct raft_msg m;
};

/* One direction of a node's local channel: FIFO, delayed, lossy. */
struct sim_chan_slot {
	uint64_t at;
	union {
		struct raft_chan_down down;
		struct raft_chan_report up;
	} u;
};

struct sim_chan {
	unsigned head, n;
	uint64_t last_at;
	struct sim_chan_slot slot[SIM_CHAN_MAX];
};

struct sim_node;

/* Callback context of one partition replicator. */
struct sim_part {
	struct sim_node *n;
	uint16_t p;
};

struct sim_node {
	struct raft_ctl *c;
	struct prepl *pp[SIM_PARTS_MAX];
	struct sim_part part[SIM_PARTS_MAX];
	bool ctl_up;
	bool dp_up;
	bool joiner;
	uint64_t ctl_restart_at;
	uint64_t dp_restart_at;
	uint64_t incarnation;     /* the dataplane's */
	uint64_t ctl_incarnation; /* the control plane's start count */
	uint64_t next_tick;
	uint8_t role_seen;
	bool leading_seen[SIM_PARTS_MAX];
	uint64_t amnesic_inc; /* born without logs, not yet verified */
	uint64_t crash_commit[SIM_LOGS_MAX];
	uint64_t checked_commit[SIM_LOGS_MAX];
	bool taken_over[SIM_PARTS_MAX];
	uint64_t expire_sent[SIM_PARTS_MAX][SIM_KEYS];
	struct sim_sm sm[SIM_PARTS_MAX];
	struct sim_chan down; /* control -> dataplane */
	struct sim_chan up;   /* dataplane -> control */
};

struct sim_ref_slot {
	uint64_t term;
	uint64_t fp;
};

struct sim_grant {
	uint64_t index;
	uint64_t token;
};

struct sim_client {
	uint64_t id;
	uint64_t request_id;
	bool waiting;
	uint16_t part;
	uint64_t sent_ms;
	uint8_t guess;
	uint64_t completed_after_heal;
	uint64_t held_token[SIM_PARTS_MAX][SIM_KEYS];
};

struct sim {
	uint64_t seed;
	uint64_t rng;
	bool trace;
	unsigned nodes;
	unsigned parts;
	uint8_t voters_initial;
	uint64_t now;
	bool healing;
	bool failed;
	char why[256];
	/* network */
	unsigned drop_pm, dup_pm, delay_max; /* per mille, ms */
	unsigned fault_pm;                   /* per mille per ms */
	unsigned chan_drop_pm, chan_delay_max;
	bool link[SIM_NODES_MAX][SIM_NODES_MAX];
	int32_t wheel[SIM_WHEEL];
	int32_t free_head;
	struct sim_msg *pool;
	uint64_t msgs_sent;
	/* cluster */
	struct sim_node node[SIM_NODES_MAX];
	struct sim_client client[SIM_CLIENTS];
	/* reference history */
	uint8_t *leader_of_term; /* node + 1, 0 = none */
	uint64_t term_hi;
	struct sim_ref_slot (*seen)[SIM_TERMS_PER_IDX]; /* [log][idx] */
	uint64_t *committed;                            /* [log][idx] fp */
	uint64_t idx_hi[SIM_LOGS_MAX];
	uint64_t commit_max[SIM_LOGS_MAX];
	struct sim_grant grants[SIM_PARTS_MAX][SIM_KEYS][SIM_GRANTS_MAX];
	unsigned grants_n[SIM_PARTS_MAX][SIM_KEYS];
	/* statistics */
	uint64_t elections, crashes, commits_told, snapshots;
};

static struct sim *S;

static uint64_t
sim_rand(void)
{
	uint64_t z = (S->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned
sim_below(unsigned n)
{
	return (unsigned)(sim_rand() % n);
}

static bool
sim_chance(unsigned per_mille)
{
	return sim_below(1000) < per_mille;
}

static void
sim_trace(const char *fmt, ...)
{
	va_list ap;

	if (!S->trace)
		return;
	printf("%6" PRIu64 " ", S->now);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void
sim_fail(const char *fmt, ...)
{
	va_list ap;

	if (S->failed)
		return;
	S->failed = true;
	va_start(ap, fmt);
	vsnprintf(S->why, sizeof(S->why), fmt, ap);
	va_end(ap);
	sim_trace("VIOLATION: %s", S->why);
}

static const char *const sim_type_name[] = {
	"?",           "PREVOTE", "PREVOTE_REPLY", "VOTE",
	"VOTE_REPLY",  "APPEND",  "APPEND_REPLY",  "SNAPSHOT",
	"TIMEOUT_NOW", "PULL",    "PULL_REPLY",
};

static const char *const sim_role_name[] = {"?", "follower", "precandidate",
					    "candidate", "leader"};

static unsigned
sim_node_id(const struct sim_node *n)
{
	return (unsigned)(n - S->node);
}

/* Bytes of a message worth copying (the union's used part). */
static size_t
sim_msg_size(const struct raft_msg *m)
{
	size_t hdr = offsetof(struct raft_msg, u);

	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_PULL_REPLY:
		return hdr + offsetof(struct raft_msg_append, entries) +
		       m->u.append.n * sizeof(struct lock_entry);
	case RAFT_MSG_SNAPSHOT:
		return hdr + offsetof(struct raft_msg_snapshot, data) +
		       m->u.snapshot.len;
	case RAFT_MSG_APPEND_REPLY:
		return hdr + sizeof(struct raft_msg_append_reply);
	case RAFT_MSG_PULL:
		return hdr + sizeof(struct raft_msg_pull);
	case RAFT_MSG_TIMEOUT_NOW:
		return hdr;
	default:
		return sizeof(*m);
	}
}

static void
sim_net_put(const struct raft_msg *m, uint64_t at)
{
	int32_t i = S->free_head;
	struct sim_msg *sm;

	if (i < 0)
		return; /* the network's buffers are full: a drop */
	sm = &S->pool[i];
	S->free_head = sm->next;
	memcpy(&sm->m, m, sim_msg_size(m));
	sm->at = at;
	sm->next = S->wheel[at % SIM_WHEEL];
	S->wheel[at % SIM_WHEEL] = i;
}

/* Onto the network, which decides what happens to it. */
static void
sim_net_send(const struct raft_msg *m)
{
	S->msgs_sent++;
	if (!S->link[m->from][m->to] || sim_chance(S->drop_pm)) {
		sim_trace("drop %s %u->%u log %u t%" PRIu64,
			  sim_type_name[m->type], m->from, m->to, m->log,
			  m->term);
		return;
	}
	sim_net_put(m, S->now + 1 + sim_below(S->delay_max));
	if (sim_chance(S->dup_pm))
		sim_net_put(m, S->now + 1 + sim_below(S->delay_max));
}

/* raft_ctl_ops.send. A granted vote must rest on reports of a dataplane
 * that holds everything committed before it lost its logs (the diskless
 * rule, checked against the reference). */
static void
sim_ctl_send(void *ctx, const struct raft_msg *m)
{
	struct sim_node *n = ctx;
	const struct raft_ctl *c = n->c;
	unsigned self = sim_node_id(n), p;

	LATCH_ASSERT(m->from == self);
	if ((m->type == RAFT_MSG_VOTE_REPLY ||
	     m->type == RAFT_MSG_PREVOTE_REPLY) &&
	    m->u.vote_reply.granted && n->amnesic_inc != 0 &&
	    c->dp_incarnation == n->amnesic_inc) {
		for (p = 0; p < S->parts; p++)
			if (c->rep[p].last.index < n->crash_commit[p])
				sim_fail("node %u granted a %s with amnesia: "
					 "partition %u reported at %" PRIu64
					 " < %" PRIu64 " committed at crash",
					 self, sim_type_name[m->type], p,
					 c->rep[p].last.index,
					 n->crash_commit[p]);
	}
	sim_net_send(m);
}

/* prepl_ops.send. */
static void
sim_dp_send(void *ctx, const struct raft_msg *m)
{
	struct sim_part *sp = ctx;

	LATCH_ASSERT(m->from == sim_node_id(sp->n));
	LATCH_ASSERT(m->log == sp->p);
	sim_net_send(m);
}

/* The local channel: FIFO (a Unix socket), delayed, lossy. */
static struct sim_chan_slot *
sim_chan_put(struct sim_chan *ch)
{
	struct sim_chan_slot *s;
	uint64_t at = S->now + sim_below(S->chan_delay_max + 1);

	if (ch->n == SIM_CHAN_MAX || sim_chance(S->chan_drop_pm))
		return NULL;
	if (at < ch->last_at)
		at = ch->last_at;
	ch->last_at = at;
	s = &ch->slot[(ch->head + ch->n) % SIM_CHAN_MAX];
	ch->n++;
	s->at = at;
	return s;
}

static void
sim_chan_clear(struct sim_chan *ch)
{
	ch->head = 0;
	ch->n = 0;
	ch->last_at = 0;
}

/* raft_ctl_ops.chan: control -> dataplane. */
static void
sim_ctl_chan(void *ctx, const struct raft_chan_down *d)
{
	struct sim_node *n = ctx;
	struct sim_chan_slot *s = sim_chan_put(&n->down);

	if (s != NULL)
		s->u.down = *d;
}

/* prepl_ops.report: dataplane -> control. */
static void
sim_dp_report(void *ctx, const struct raft_chan_report *rep)
{
	struct sim_part *sp = ctx;
	struct sim_chan_slot *s = sim_chan_put(&sp->n->up);

	if (s != NULL)
		s->u.up = *rep;
}

/* 64-bit FNV-1a over bytes, chained. */
static uint64_t
sim_hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* An entry's fingerprint includes the previous entry's term, so equal
 * fingerprints at (index, term) imply equal histories by induction. */
static uint64_t
sim_fp(const struct plog *pl, uint64_t idx)
{
	uint64_t prev_term = 0, h = 0xcbf29ce484222325ull;
	const struct lock_entry *e = plog_entry(pl, idx);

	LATCH_ASSERT(e != NULL);
	LATCH_ASSERT(plog_term_at(pl, idx - 1, &prev_term));
	h = sim_hash(h, e, sizeof(*e));
	return sim_hash(h, &prev_term, sizeof(prev_term));
}

static struct sim_ref_slot *
sim_seen(unsigned l, uint64_t idx)
{
	return S->seen[(size_t)l * SIM_IDX_MAX + idx];
}

/* Log matching (§5.3): one entry per (log, index, term), one history. */
static void
sim_check_entry(unsigned node, unsigned l, const struct plog *pl, uint64_t idx)
{
	const struct lock_entry *e = plog_entry(pl, idx);
	struct sim_ref_slot *s;
	uint64_t fp;
	unsigned k;

	if (idx >= SIM_IDX_MAX) {
		sim_fail("index %" PRIu64 " beyond the simulator's bound", idx);
		return;
	}
	fp = sim_fp(pl, idx);
	s = sim_seen(l, idx);
	if (idx > S->idx_hi[l])
		S->idx_hi[l] = idx;
	for (k = 0; k < SIM_TERMS_PER_IDX; k++) {
		if (s[k].term == e->term) {
			if (s[k].fp != fp)
				sim_fail("log matching: node %u log %u index "
					 "%" PRIu64 " term %" PRIu64
					 " differs from another node's",
					 node, l, idx, e->term);
			return;
		}
		if (s[k].term == 0) {
			s[k].term = e->term;
			s[k].fp = fp;
			return;
		}
	}
}

/* Committed entries never change (§5.4, State Machine Safety). */
static void
sim_check_committed(unsigned node, unsigned l, const struct plog *pl,
		    uint64_t idx)
{
	uint64_t *ref = &S->committed[(size_t)l * SIM_IDX_MAX + idx];
	uint64_t fp;

	if (idx >= SIM_IDX_MAX || idx <= pl->snap_index)
		return;
	fp = sim_fp(pl, idx);
	if (*ref == 0)
		*ref = fp;
	else if (*ref != fp)
		sim_fail("committed entry changed: node %u log %u index "
			 "%" PRIu64,
			 node, l, idx);
	if (idx > S->commit_max[l])
		S->commit_max[l] = idx;
}

/* Leader Completeness (§5.4.1): a new leader of log @l holds every
 * committed entry. */
static void
sim_check_new_leader(unsigned node, unsigned l, const struct plog *pl,
		     uint64_t term)
{
	uint64_t idx;

	if (pl->last < S->commit_max[l]) {
		sim_fail("leader %u of term %" PRIu64 " lacks committed "
			 "entries of log %u (%" PRIu64 " < %" PRIu64 ")",
			 node, term, l, pl->last, S->commit_max[l]);
		return;
	}
	for (idx = pl->snap_index + 1; idx <= S->commit_max[l]; idx++) {
		uint64_t ref = S->committed[(size_t)l * SIM_IDX_MAX + idx];

		if (ref != 0 && ref != sim_fp(pl, idx))
			sim_fail("leader %u of term %" PRIu64
				 " has a different committed entry "
				 "at log %u index %" PRIu64,
				 node, term, l, idx);
	}
}

/* At most one leader per term, control half or replicator alike. */
static void
sim_check_leader(unsigned node, uint64_t term)
{
	if (term >= SIM_TERM_MAX) {
		sim_fail("term %" PRIu64 " beyond the bound", term);
		return;
	}
	if (S->leader_of_term[term] == 0) {
		S->leader_of_term[term] = (uint8_t)(node + 1);
		if (term > S->term_hi)
			S->term_hi = term;
	} else if (S->leader_of_term[term] != node + 1) {
		sim_fail("two leaders in term %" PRIu64 ": %u and %u", term,
			 S->leader_of_term[term] - 1, node);
	}
}

/* Log matching and committed prefix of one log of @node. */
static void
sim_check_log(unsigned node, unsigned l, struct plog *pl)
{
	struct sim_node *n = &S->node[node];
	uint64_t idx, from = pl->mod_lo;

	if (from <= pl->snap_index)
		from = pl->snap_index + 1;
	for (idx = from; idx <= pl->last && !S->failed; idx++)
		sim_check_entry(node, l, pl, idx);
	plog_mod_clear(pl);
	if (pl->commit < n->checked_commit[l])
		sim_fail("node %u log %u commit went back", node, l);
	for (idx = n->checked_commit[l] + 1; idx <= pl->commit && !S->failed;
	     idx++)
		sim_check_committed(node, l, pl, idx);
	n->checked_commit[l] = pl->commit;
}

/* Checks after every step of @node. */
static void
sim_check_node(unsigned node)
{
	struct sim_node *n = &S->node[node];
	struct raft_ctl *c = n->c;
	unsigned p;

	if (n->ctl_up && c->role == RAFT_LEADER)
		sim_check_leader(node, c->term);
	if (n->ctl_up && c->role != n->role_seen) {
		sim_trace("node %u: %s -> %s term %" PRIu64, node,
			  sim_role_name[n->role_seen], sim_role_name[c->role],
			  c->term);
		if (c->role == RAFT_LEADER) {
			S->elections++;
			sim_check_new_leader(node, S->parts, c->meta, c->term);
		}
		n->role_seen = c->role;
	}
	sim_check_log(node, S->parts, c->meta);
	if (!n->dp_up)
		return;
	for (p = 0; p < S->parts; p++) {
		struct prepl *pp = n->pp[p];

		if (prepl_is_leader(pp)) {
			sim_check_leader(node, pp->view.term);
			if (!n->leading_seen[p]) {
				sim_trace("node %u leads partition %u term "
					  "%" PRIu64,
					  node, p, pp->view.term);
				sim_check_new_leader(node, p, pp->log,
						     pp->view.term);
			}
		} else {
			n->taken_over[p] = false;
		}
		n->leading_seen[p] = prepl_is_leader(pp);
		sim_check_log(node, p, pp->log);
	}
	if (n->amnesic_inc != 0 && c->caught_up_incarnation == n->amnesic_inc) {
		if (n->incarnation == n->amnesic_inc)
			for (p = 0; p < S->parts; p++)
				if (n->pp[p]->log->last < n->crash_commit[p])
					sim_fail("node %u declared caught up "
						 "without partition %u's "
						 "committed entries",
						 node, p);
		n->amnesic_inc = 0;
	}
}

/* Fencing tokens told to clients increase with log position, per lock. */
static void
sim_check_grant(unsigned p, unsigned k, uint64_t index, uint64_t token)
{
	unsigned i, *cnt = &S->grants_n[p][k];
	struct sim_grant *g = S->grants[p][k];

	for (i = 0; i < *cnt; i++) {
		if ((g[i].index == index && g[i].token != token) ||
		    (g[i].index < index && g[i].token >= token) ||
		    (g[i].index > index && g[i].token <= token)) {
			sim_fail("fencing tokens: partition %u key %u: index "
				 "%" PRIu64 " token %" PRIx64
				 " vs index %" PRIu64 " token %" PRIx64,
				 p, k, index, token, g[i].index, g[i].token);
			return;
		}
		if (g[i].index == index)
			return;
	}
	if (*cnt < SIM_GRANTS_MAX)
		g[(*cnt)++] = (struct sim_grant){index, token};
}

/* prepl_ops.apply: the state machine, and the answer to the client. */
static void
sim_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct sim_part *sp = ctx;
	struct sim_node *n = sp->n;
	uint16_t log = sp->p;
	struct sim_sm_result res = sim_sm_apply(&n->sm[log], e);
	unsigned k = e->key.bytes[1] % SIM_KEYS, c;

	if (!prepl_is_leader(n->pp[log]))
		return;
	if (e->op == LOCK_E_ACQUIRE && res.fresh)
		sim_check_grant(log, k, index, res.token);
	for (c = 0; c < SIM_CLIENTS; c++) {
		struct sim_client *cl = &S->client[c];

		if (cl->id != e->client_id)
			continue;
		S->commits_told++;
		if (e->op == LOCK_E_ACQUIRE && res.status == LATCH_S_OK)
			cl->held_token[log][k] = res.token;
		if (e->op == LOCK_E_RELEASE && res.status == LATCH_S_OK)
			cl->held_token[log][k] = 0;
		if (cl->waiting && cl->request_id == e->request_id) {
			cl->waiting = false;
			if (S->healing)
				cl->completed_after_heal++;
		}
	}
}

static uint32_t
sim_save(void *ctx, uint8_t *buf, uint32_t max)
{
	struct sim_part *sp = ctx;

	return sim_sm_save(&sp->n->sm[sp->p], buf, max);
}

static void
sim_load(void *ctx, const uint8_t *buf, uint32_t len)
{
	struct sim_part *sp = ctx;

	S->snapshots++;
	sim_sm_load(&sp->n->sm[sp->p], buf, len);
}

static void
sim_takeover(void *ctx, uint64_t now_ms)
{
	struct sim_part *sp = ctx;

	sim_sm_takeover(&sp->n->sm[sp->p], now_ms);
	sp->n->taken_over[sp->p] = true;
	sim_trace("node %u takes over partition %u", sim_node_id(sp->n), sp->p);
}

static const struct raft_ctl_ops sim_ctl_ops = {
	.send = sim_ctl_send,
	.chan = sim_ctl_chan,
};

static const struct prepl_ops sim_prepl_ops = {
	.send = sim_dp_send,
	.report = sim_dp_report,
	.apply = sim_apply,
	.save = sim_save,
	.load = sim_load,
	.takeover = sim_takeover,
};

/* Is @n's dataplane without the logs its control plane vouches for? */
static bool
sim_is_amnesic(const struct sim_node *n)
{
	return n->c->caught_up_incarnation != n->incarnation;
}

/* Voters (of the initial configuration, or promoted) down or amnesic. */
static unsigned
sim_bad_nodes(void)
{
	unsigned i, bad = 0;

	for (i = 0; i < S->nodes; i++) {
		struct sim_node *n = &S->node[i];
		bool voter = (S->voters_initial & (1u << i)) ||
			     raft_membership_is_voter(n->c, (uint8_t)i);

		if (voter && (!n->ctl_up || !n->dp_up || sim_is_amnesic(n)))
			bad++;
	}
	return bad;
}

static unsigned
sim_tolerated(void)
{
	return ((unsigned)__builtin_popcount(S->voters_initial) - 1) / 2;
}

/* Crash @i's control plane (@ctl) and/or dataplane (@dp). */
static void
sim_crash(unsigned i, bool ctl, bool dp)
{
	struct sim_node *n = &S->node[i];
	unsigned l;

	S->crashes++;
	if (ctl && n->ctl_up) {
		n->ctl_up = false;
		n->ctl_restart_at = S->now + 20 + sim_below(400);
		sim_chan_clear(&n->up); /* its socket buffer is gone */
	}
	if (dp && n->dp_up) {
		n->dp_up = false;
		n->dp_restart_at = S->now + 20 + sim_below(400);
		sim_chan_clear(&n->down);
		for (l = 0; l < S->parts; l++)
			n->crash_commit[l] = S->commit_max[l];
	}
	sim_trace("crash node %u:%s%s", i, ctl ? " control" : "",
		  dp ? " dataplane" : "");
}

static void
sim_restart_ctl(unsigned i)
{
	struct sim_node *n = &S->node[i];
	struct raft_effects fx = {0};

	n->ctl_incarnation++;
	raft_ctl_restart(n->c, S->now, n->ctl_incarnation, &fx);
	n->ctl_up = true;
	n->role_seen = RAFT_FOLLOWER;
	n->next_tick = S->now + 1;
	sim_trace("restart node %u control plane (term %" PRIu64 ")", i,
		  n->c->term);
	sim_check_node(i);
}

/* A dataplane restart: memory (logs, lock state) gone, new incarnation. */
static void
sim_restart_dp(unsigned i)
{
	struct sim_node *n = &S->node[i];
	unsigned p;

	n->incarnation++;
	memset(n->sm, 0, sizeof(n->sm));
	n->amnesic_inc = n->incarnation;
	for (p = 0; p < S->parts; p++) {
		prepl_restart(n->pp[p], S->now, n->incarnation);
		n->checked_commit[p] = 0;
		n->taken_over[p] = false;
		n->leading_seen[p] = false;
	}
	n->dp_up = true;
	n->next_tick = S->now + 1;
	sim_trace("restart node %u dataplane with amnesia, incarnation "
		  "%" PRIu64,
		  i, n->incarnation);
	sim_check_node(i);
}

static void
sim_heal_links(void)
{
	unsigned a, b;

	for (a = 0; a < SIM_NODES_MAX; a++)
		for (b = 0; b < SIM_NODES_MAX; b++)
			S->link[a][b] = true;
}

/* The control plane that leads in the highest term, or -1. */
static int
sim_leader(void)
{
	unsigned i;
	int best = -1;

	for (i = 0; i < S->nodes; i++)
		if (S->node[i].ctl_up && S->node[i].c->role == RAFT_LEADER &&
		    (best < 0 || S->node[i].c->term > S->node[best].c->term))
			best = (int)i;
	return best;
}

/* One fault, drawn at random, within the design's assumption. */
static void
sim_fault(void)
{
	unsigned kind = sim_below(100), i = sim_below(S->nodes), j;
	int lead = sim_leader();
	struct raft_effects fx = {0};
	struct sim_node *n = &S->node[i];
	bool whole = n->ctl_up && n->dp_up;

	if (kind < 15) {
		/* Isolate a node both ways. */
		for (j = 0; j < S->nodes; j++)
			S->link[i][j] = S->link[j][i] = (i == j);
		sim_trace("isolate node %u", i);
	} else if (kind < 25) {
		j = sim_below(S->nodes);
		S->link[i][j] = false;
		sim_trace("cut link %u->%u (one way)", i, j);
	} else if (kind < 35) {
		uint8_t side = (uint8_t)sim_rand();
		unsigned a, b;

		for (a = 0; a < S->nodes; a++)
			for (b = 0; b < S->nodes; b++)
				S->link[a][b] =
					((side >> a) & 1) == ((side >> b) & 1);
		sim_trace("split the network (side mask %02x)", side);
	} else if (kind < 55) {
		sim_heal_links();
		sim_trace("heal the network");
	} else if (kind < 63) {
		if (whole && sim_bad_nodes() + 1 <= sim_tolerated())
			sim_crash(i, true, true);
	} else if (kind < 70) {
		if (whole && sim_bad_nodes() + 1 <= sim_tolerated())
			sim_crash(i, false, true);
	} else if (kind < 78) {
		if (whole && sim_bad_nodes() + 1 <= sim_tolerated())
			sim_crash(i, true, false);
	} else if (kind < 85) {
		if (lead >= 0 && (unsigned)lead != i) {
			int rc = raft_ctl_transfer(S->node[lead].c, (uint8_t)i,
						   S->now, &fx);

			sim_trace("transfer %d -> %u: %d", lead, i, rc);
		}
	} else if (kind < 92) {
		for (j = 0; j < S->nodes; j++) {
			if (!S->node[j].joiner || lead < 0)
				continue;
			if (raft_ctl_add_learner(S->node[lead].c, (uint8_t)j,
						 S->now, &fx) == 0)
				sim_trace("add learner %u", j);
		}
	} else if (lead >= 0 && S->node[lead].dp_up &&
		   sim_bad_nodes() + 1 <= sim_tolerated()) {
		/* The leader's node: dataplane alone or both, at random. */
		sim_crash((unsigned)lead, sim_below(2) == 0, true);
	}
	if (lead >= 0 && S->node[lead].ctl_up)
		sim_check_node((unsigned)lead);
}

/* The partition leader a client would find: the node's view's leader. */
static uint8_t
sim_redirect(const struct sim_node *n, uint16_t p)
{
	uint8_t l = n->pp[p]->view.leader;

	if (l == RAFT_NONE && n->ctl_up)
		l = n->c->leader;
	return l;
}

static void
sim_client_step(struct sim_client *cl)
{
	struct lock_entry e;
	struct sim_node *n;
	unsigned k;
	int64_t idx;

	if (cl->waiting) {
		if (S->now - cl->sent_ms < SIM_CLIENT_TIMEOUT_MS)
			return;
		cl->waiting = false; /* give up; a retry is a new request */
		cl->guess = (uint8_t)sim_below(S->nodes);
	}
	if (!sim_chance(S->healing ? 100 : 30))
		return;
	memset(&e, 0, sizeof(e));
	cl->part = (uint16_t)sim_below(S->parts);
	k = sim_below(SIM_KEYS);
	e.client_id = cl->id;
	e.request_id = ++cl->request_id;
	e.now_ms = S->now;
	e.key.len = 2;
	e.key.bytes[0] = (uint8_t)cl->part;
	e.key.bytes[1] = (uint8_t)k;
	if (cl->held_token[cl->part][k] != 0 && sim_chance(600)) {
		e.op = LOCK_E_RELEASE;
		e.token = cl->held_token[cl->part][k];
	} else {
		e.op = LOCK_E_ACQUIRE;
		e.lease_ms = 100 + sim_below(400);
	}
	n = &S->node[cl->guess % S->nodes];
	if (!n->dp_up) {
		cl->guess = (uint8_t)sim_below(S->nodes);
		return;
	}
	idx = prepl_propose(n->pp[cl->part], &e, S->now);
	if (idx < 0) {
		uint8_t l = sim_redirect(n, cl->part);

		if (l != RAFT_NONE && l < S->nodes && idx == -ENOTCONN)
			cl->guess = l;
		else
			cl->guess = (uint8_t)sim_below(S->nodes);
		return;
	}
	sim_trace("client %" PRIu64 " req %" PRIu64 " %s p%u k%u at node %u "
		  "index %" PRId64,
		  cl->id, e.request_id,
		  e.op == LOCK_E_ACQUIRE ? "acquire" : "release", cl->part, k,
		  sim_node_id(n), idx);
	cl->waiting = true;
	cl->sent_ms = S->now;
	sim_check_node(sim_node_id(n));
}

/* Leader: propose EXPIRE entries for leases due (after takeover). */
static void
sim_expire_step(unsigned i)
{
	struct sim_node *n = &S->node[i];
	unsigned p, k;

	if (!n->dp_up)
		return;
	for (p = 0; p < S->parts; p++) {
		if (!prepl_is_leader(n->pp[p]) || !n->taken_over[p])
			continue;
		for (k = 0; k < SIM_KEYS; k++) {
			struct sim_lock *l = &n->sm[p].locks[k];
			struct lock_entry e;

			if (l->holder == 0 || l->expire_ms > S->now ||
			    n->expire_sent[p][k] + 50 > S->now)
				continue;
			memset(&e, 0, sizeof(e));
			e.op = LOCK_E_EXPIRE_LEASE;
			e.token = l->token;
			e.now_ms = S->now;
			e.key.len = 2;
			e.key.bytes[0] = (uint8_t)p;
			e.key.bytes[1] = (uint8_t)k;
			if (prepl_propose(n->pp[p], &e, S->now) >= 0)
				n->expire_sent[p][k] = S->now;
		}
	}
	sim_check_node(i);
}

/* Is @m for the dataplane (a partition's worker) or the control plane? */
static bool
sim_msg_is_dataplane(const struct raft_msg *m)
{
	switch (m->type) {
	case RAFT_MSG_APPEND:
	case RAFT_MSG_APPEND_REPLY:
	case RAFT_MSG_SNAPSHOT:
	case RAFT_MSG_PULL:
	case RAFT_MSG_PULL_REPLY:
		return m->log < S->parts;
	default:
		return false;
	}
}

static void
sim_deliver(void)
{
	int32_t i = S->wheel[S->now % SIM_WHEEL], keep = -1;

	S->wheel[S->now % SIM_WHEEL] = -1;
	while (i >= 0 && !S->failed) {
		struct sim_msg *sm = &S->pool[i];
		int32_t next = sm->next;
		const struct raft_msg *m = &sm->m;
		struct sim_node *n;
		bool dp;

		if (sm->at != S->now) {
			sm->next = keep;
			keep = i;
			i = next;
			continue;
		}
		n = &S->node[m->to];
		dp = sim_msg_is_dataplane(m);
		if ((dp ? n->dp_up : n->ctl_up) && S->link[m->from][m->to]) {
			sim_trace("deliver %s %u->%u log %u t%" PRIu64 " n%u",
				  sim_type_name[m->type], m->from, m->to,
				  m->log, m->term,
				  m->type == RAFT_MSG_APPEND ? m->u.append.n
							     : 0);
			if (dp) {
				prepl_recv(n->pp[m->log], m, S->now);
			} else {
				struct raft_effects fx = {0};

				raft_ctl_recv(n->c, m, S->now, &fx);
			}
			sim_check_node(m->to);
		}
		sm->next = S->free_head;
		S->free_head = i;
		i = next;
	}
	S->wheel[S->now % SIM_WHEEL] = keep;
}

/* Deliver what is due on every node's local channel, both ways. */
static void
sim_chan_deliver(void)
{
	unsigned i, p;

	for (i = 0; i < S->nodes && !S->failed; i++) {
		struct sim_node *n = &S->node[i];

		while (n->down.n > 0 &&
		       n->down.slot[n->down.head].at <= S->now) {
			struct raft_chan_down d =
				n->down.slot[n->down.head].u.down;

			n->down.head = (n->down.head + 1) % SIM_CHAN_MAX;
			n->down.n--;
			if (!n->dp_up)
				continue;
			for (p = 0; p < S->parts; p++)
				prepl_chan(n->pp[p], &d, S->now);
			sim_check_node(i);
		}
		while (n->up.n > 0 && n->up.slot[n->up.head].at <= S->now) {
			struct raft_chan_report rep =
				n->up.slot[n->up.head].u.up;
			struct raft_effects fx = {0};

			n->up.head = (n->up.head + 1) % SIM_CHAN_MAX;
			n->up.n--;
			if (!n->ctl_up)
				continue;
			raft_ctl_report(n->c, &rep, S->now, &fx);
			sim_check_node(i);
		}
	}
}

/* Liveness after healing: one leader all up nodes follow, every client
 * served, every partition led and taken over by the leader's workers. */
static bool
sim_is_live(void)
{
	int lead = sim_leader();
	struct sim_node *ln;
	unsigned i, p;

	if (lead < 0)
		return false;
	ln = &S->node[lead];
	for (i = 0; i < S->nodes; i++) {
		struct raft_ctl *c = S->node[i].c;

		if (!S->node[i].ctl_up ||
		    (S->node[i].joiner &&
		     !raft_membership_is_voter(c, (uint8_t)i) &&
		     !(ln->c->learners & (1u << i))))
			continue;
		if (c->term != ln->c->term || c->leader != (uint8_t)lead)
			return false;
	}
	if (!ln->dp_up)
		return false;
	for (p = 0; p < S->parts; p++)
		if (!prepl_is_leader(ln->pp[p]) || !ln->taken_over[p] ||
		    ln->pp[p]->view.term != ln->c->term)
			return false;
	for (i = 0; i < SIM_CLIENTS; i++)
		if (S->client[i].completed_after_heal == 0)
			return false;
	return true;
}

static void
sim_setup(unsigned nodes, unsigned parts)
{
	unsigned i, p, batch, inflight, ring;

	S->nodes = nodes;
	S->parts = parts;
	S->now = 0;
	S->healing = false;
	S->failed = false;
	S->why[0] = 0;
	S->drop_pm = sim_below(150);
	S->dup_pm = sim_below(50);
	S->delay_max = 1 + sim_below(SIM_DELAY_MAX);
	S->fault_pm = 5 + sim_below(40);
	S->chan_drop_pm = sim_below(50);
	S->chan_delay_max = sim_below(SIM_CHAN_DELAY_MAX + 1);
	sim_heal_links();
	for (i = 0; i < SIM_WHEEL; i++)
		S->wheel[i] = -1;
	for (i = 0; i < SIM_POOL; i++)
		S->pool[i].next =
			(int32_t)i + 1 < SIM_POOL ? (int32_t)i + 1 : -1;
	S->free_head = 0;
	S->voters_initial = (uint8_t)((1u << nodes) - 1);
	/* One seed in four: the last node joins later, as a learner. */
	if (sim_below(4) == 0)
		S->voters_initial &= (uint8_t) ~(1u << (nodes - 1));
	/* Per seed: batch size, pipeline depth and ring size vary, so
	 * single-entry appends (Figure 8's timing) and frequent snapshots
	 * both occur. */
	batch = 1 + sim_below(4);
	inflight = 1 + sim_below(3);
	ring = 32u << sim_below(3);
	for (i = 0; i < nodes; i++) {
		struct sim_node *n = &S->node[i];
		struct raft_ctl_config cfg = {
			.id = (uint8_t)i,
			.voters_initial = S->voters_initial,
			.partitions = (uint16_t)parts,
			.election_ms = SIM_ELECTION_MS,
			.heartbeat_ms = SIM_HEARTBEAT_MS,
			.meta = {.entries_max = 32,
				 .batch_max = 4,
				 .inflight_max = 2,
				 .snapshot_max = 16},
			.seed = sim_rand(),
		};

		memset(n, 0, sizeof(*n));
		n->joiner = !(S->voters_initial & (1u << i));
		n->incarnation = 1;
		n->ctl_incarnation = 1;
		n->c = raft_ctl_create(&cfg, &sim_ctl_ops, n,
				       n->joiner ? 0 : 1);
		LATCH_ASSERT(n->c != NULL);
		for (p = 0; p < parts; p++) {
			struct prepl_config pc = {
				.id = (uint8_t)i,
				.partition = (uint16_t)p,
				.heartbeat_ms = SIM_HEARTBEAT_MS,
				.log = {.entries_max = ring,
					.batch_max = batch,
					.inflight_max = inflight,
					.snapshot_max = 512},
			};

			n->part[p].n = n;
			n->part[p].p = (uint16_t)p;
			n->pp[p] = prepl_create(&pc, &sim_prepl_ops,
						&n->part[p], 1);
			LATCH_ASSERT(n->pp[p] != NULL);
		}
		n->ctl_up = true;
		n->dp_up = true;
		n->role_seen = RAFT_FOLLOWER;
		n->next_tick = 1 + sim_below(SIM_TICK_MS);
	}
	for (i = 0; i < SIM_CLIENTS; i++) {
		memset(&S->client[i], 0, sizeof(S->client[i]));
		S->client[i].id = 100 + i;
		S->client[i].guess = (uint8_t)sim_below(nodes);
	}
}

static void
sim_teardown(void)
{
	unsigned i, l, p;

	for (i = 0; i < S->nodes; i++) {
		raft_ctl_destroy(S->node[i].c);
		for (p = 0; p < S->parts; p++)
			prepl_destroy(S->node[i].pp[p]);
	}
	memset(S->leader_of_term, 0, S->term_hi + 1);
	S->term_hi = 0;
	for (l = 0; l < SIM_LOGS_MAX; l++) {
		size_t n = S->idx_hi[l] + 1;

		memset(S->seen[(size_t)l * SIM_IDX_MAX], 0,
		       n * sizeof(S->seen[0]));
		memset(&S->committed[(size_t)l * SIM_IDX_MAX], 0,
		       n * sizeof(uint64_t));
		S->idx_hi[l] = 0;
		S->commit_max[l] = 0;
	}
	memset(S->grants_n, 0, sizeof(S->grants_n));
}

/* Bring back whatever is down at its time (or now, when @all). */
static void
sim_restarts(bool all)
{
	unsigned i;

	for (i = 0; i < S->nodes; i++) {
		struct sim_node *n = &S->node[i];

		if (!n->dp_up && (all || S->now >= n->dp_restart_at))
			sim_restart_dp(i);
		if (!n->ctl_up && (all || S->now >= n->ctl_restart_at))
			sim_restart_ctl(i);
	}
}

/* One run. Returns 0, or 1 with S->why on a violation. */
static int
sim_run(uint64_t seed, unsigned nodes, unsigned parts)
{
	uint64_t end = SIM_CHAOS_MS + SIM_HEAL_MS;
	unsigned i, p, def_nodes, def_parts;

	S->seed = seed;
	S->rng = seed * 0x2545f4914f6cdd1dull + 1;
	/* Drawn always, so a replay with --nodes/--partitions given is the
	 * same run. */
	def_nodes = sim_below(2) ? 5 : 3;
	def_parts = 1 + sim_below(SIM_PARTS_MAX);
	if (nodes == 0)
		nodes = def_nodes;
	if (parts == 0)
		parts = def_parts;
	sim_setup(nodes, parts);
	sim_trace("seed %" PRIu64 ": %u nodes, %u partitions, drop %u/1000, "
		  "dup %u/1000, delay <= %u ms, channel drop %u/1000 delay "
		  "<= %u ms, voters %02x",
		  seed, nodes, parts, S->drop_pm, S->dup_pm, S->delay_max,
		  S->chan_drop_pm, S->chan_delay_max, S->voters_initial);
	for (S->now = 1; S->now <= end && !S->failed; S->now++) {
		if (!S->healing && S->now >= SIM_CHAOS_MS) {
			int lead;

			S->healing = true;
			S->drop_pm = 0;
			S->dup_pm = 0;
			S->chan_drop_pm = 0;
			sim_heal_links();
			sim_trace("heal: network whole, every process up");
			sim_restarts(true);
			lead = sim_leader();
			for (i = 0; i < nodes && lead >= 0; i++) {
				struct raft_effects fx = {0};

				if (S->node[i].joiner)
					raft_ctl_add_learner(S->node[lead].c,
							     (uint8_t)i, S->now,
							     &fx);
			}
		}
		if (!S->healing && sim_chance(S->fault_pm))
			sim_fault();
		sim_restarts(false);
		sim_deliver();
		sim_chan_deliver();
		for (i = 0; i < nodes && !S->failed; i++) {
			struct sim_node *n = &S->node[i];
			struct raft_effects fx = {0};

			if (S->now < n->next_tick)
				continue;
			n->next_tick = S->now + SIM_TICK_MS;
			if (n->ctl_up)
				raft_ctl_tick(n->c, S->now, &fx);
			if (n->dp_up)
				for (p = 0; p < parts; p++)
					prepl_tick(n->pp[p], S->now);
			sim_check_node(i);
			sim_expire_step(i);
		}
		for (i = 0; i < SIM_CLIENTS && !S->failed; i++)
			sim_client_step(&S->client[i]);
		if (S->healing && S->now >= SIM_CHAOS_MS + 200 && sim_is_live())
			break;
	}
	if (!S->failed && S->now > end)
		sim_fail("liveness: no leader serving every client within "
			 "%u ms of healing",
			 SIM_HEAL_MS);
	sim_trace("end: %" PRIu64 " ms, %" PRIu64 " messages, %" PRIu64
		  " elections, %" PRIu64 " crashes, %" PRIu64
		  " answers, %" PRIu64 " snapshots",
		  S->now, S->msgs_sent, S->elections, S->crashes,
		  S->commits_told, S->snapshots);
	sim_teardown();
	return S->failed ? 1 : 0;
}

static void
sim_usage(void)
{
	fprintf(stderr, "usage: latch-sim --seed S [--trace]\n"
			"       latch-sim --seeds N [--start S] [--nodes 3|5] "
			"[--partitions P]\n");
}

int
main(int argc, char **argv)
{
	uint64_t seed = 0, seeds = 0, start = 1, s;
	unsigned nodes = 0, parts = 0, failures = 0;
	bool one = false;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--trace") == 0) {
			continue;
		} else if (v == NULL) {
			sim_usage();
			return 2;
		} else if (strcmp(a, "--seed") == 0) {
			seed = strtoull(v, NULL, 0);
			one = true;
		} else if (strcmp(a, "--seeds") == 0) {
			seeds = strtoull(v, NULL, 0);
		} else if (strcmp(a, "--start") == 0) {
			start = strtoull(v, NULL, 0);
		} else if (strcmp(a, "--nodes") == 0) {
			nodes = (unsigned)atoi(v);
		} else if (strcmp(a, "--partitions") == 0) {
			parts = (unsigned)atoi(v);
		} else {
			sim_usage();
			return 2;
		}
		i++;
	}
	if ((!one && seeds == 0) || (nodes != 0 && nodes != 3 && nodes != 5) ||
	    parts > SIM_PARTS_MAX) {
		sim_usage();
		return 2;
	}
	S = calloc(1, sizeof(*S));
	LATCH_ASSERT(S != NULL);
	S->pool = calloc(SIM_POOL, sizeof(*S->pool));
	S->leader_of_term = calloc(SIM_TERM_MAX, 1);
	S->seen = calloc((size_t)SIM_LOGS_MAX * SIM_IDX_MAX, sizeof(*S->seen));
	S->committed =
		calloc((size_t)SIM_LOGS_MAX * SIM_IDX_MAX, sizeof(uint64_t));
	LATCH_ASSERT(S->pool && S->leader_of_term && S->seen && S->committed);
	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--trace") == 0)
			S->trace = true;
	if (one) {
		if (sim_run(seed, nodes, parts) != 0) {
			printf("FAIL seed %" PRIu64 ": %s\n", seed, S->why);
			return 1;
		}
		printf("ok seed %" PRIu64 "\n", seed);
		return 0;
	}
	for (s = start; s < start + seeds; s++) {
		if (sim_run(s, nodes, parts) != 0) {
			printf("FAIL seed %" PRIu64 ": %s\n"
			       "replay: latch-sim --seed %" PRIu64
			       " --nodes %u --partitions %u --trace\n",
			       s, S->why, s, S->nodes, S->parts);
			failures++;
			if (failures >= 5)
				break;
		}
	}
	printf("%" PRIu64 " seeds from %" PRIu64 ": %u failed\n", s - start,
	       start, failures);
	return failures ? 1 : 0;
}
