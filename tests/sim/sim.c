/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latch-sim: the deterministic cluster simulator (docs/raft.md).
 *
 * One process runs a cluster of 3 or 5 Raft cores (control/raft) with P
 * partition logs each, over a simulated network that drops, duplicates,
 * delays (and so reorders) messages and cuts links (both ways or one), with
 * crashes (the dataplane's memory and so the partition logs are lost: the
 * amnesia case), control-plane restarts (logs kept), leader transfers, a
 * server joining as learner, and clients taking and releasing locks. Time
 * is simulated in milliseconds; all randomness comes from one PRNG seeded
 * by the seed, so `latch-sim --seed S` replays a run exactly.
 *
 * After every step it checks: at most one leader per term; log matching
 * (same index and term => same entry and same history); committed entries
 * never change and every new leader holds them all; fencing tokens told
 * to clients increase with log position, per lock; a node that lost its
 * logs grants no vote before holding everything committed before its
 * crash. After the chaos the network heals and every node restarts; a
 * leader must then be elected and clients' operations complete within a
 * bound (liveness).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "control/raft/raft.h"
#include "tests/sim/sim_sm.h"

#define SIM_NODES_MAX 5
#define SIM_PARTS_MAX 4
#define SIM_LOGS_MAX  (SIM_PARTS_MAX + 1)
#define SIM_CLIENTS   4
/* Delays are below the wheel size, so one bucket holds one instant. */
#define SIM_WHEEL     64
#define SIM_DELAY_MAX 40
#define SIM_POOL      16384
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

struct sim_node {
	struct raft *r;
	bool up;
	bool joiner;
	uint64_t restart_at;
	uint64_t incarnation;
	uint64_t next_tick;
	uint8_t role_seen;
	bool crashed_amnesic; /* lost its logs, not yet verified */
	uint64_t crash_commit[SIM_LOGS_MAX];
	uint64_t checked_commit[SIM_LOGS_MAX];
	bool taken_over[SIM_PARTS_MAX];
	uint64_t expire_sent[SIM_PARTS_MAX][SIM_KEYS];
	struct sim_sm sm[SIM_PARTS_MAX];
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

static unsigned sim_bad_nodes(void);
static uint64_t sim_global_commit(unsigned l);

/* raft_ops.send: the network decides what happens to it. */
static void
sim_send(void *ctx, const struct raft_msg *m)
{
	struct sim_node *n = ctx;
	unsigned self = (unsigned)(n - S->node), l;

	LATCH_ASSERT(m->from == self);
	S->msgs_sent++;
	if ((m->type == RAFT_MSG_VOTE_REPLY ||
	     m->type == RAFT_MSG_PREVOTE_REPLY) &&
	    m->u.vote_reply.granted && n->crashed_amnesic) {
		/* The diskless rule, checked against the reference. */
		for (l = 0; l < S->parts; l++)
			if (n->r->log[l]->last < n->crash_commit[l])
				sim_fail("node %u granted a %s with amnesia: "
					 "log %u ends at %" PRIu64 " < %" PRIu64
					 " committed at crash",
					 self, sim_type_name[m->type], l,
					 n->r->log[l]->last,
					 n->crash_commit[l]);
	}
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

/* Leader Completeness (§5.4.1): a new leader holds every committed entry. */
static void
sim_check_new_leader(unsigned node)
{
	struct raft *r = S->node[node].r;
	unsigned l;
	uint64_t idx;

	for (l = 0; l < r->logs; l++) {
		const struct plog *pl = r->log[l];

		if (pl->last < S->commit_max[l]) {
			sim_fail(
				"leader %u of term %" PRIu64 " lacks committed "
				"entries of log %u (%" PRIu64 " < %" PRIu64 ")",
				node, r->term, l, pl->last, S->commit_max[l]);
			return;
		}
		for (idx = pl->snap_index + 1; idx <= S->commit_max[l]; idx++) {
			uint64_t ref =
				S->committed[(size_t)l * SIM_IDX_MAX + idx];

			if (ref != 0 && ref != sim_fp(pl, idx))
				sim_fail("leader %u of term %" PRIu64
					 " has a different committed entry "
					 "at log %u index %" PRIu64,
					 node, r->term, l, idx);
		}
	}
}

/* Checks after every step of @node. */
static void
sim_check_node(unsigned node)
{
	struct sim_node *n = &S->node[node];
	struct raft *r = n->r;
	unsigned l;

	if (r->role == RAFT_LEADER) {
		if (r->term >= SIM_TERM_MAX) {
			sim_fail("term %" PRIu64 " beyond the bound", r->term);
			return;
		}
		if (S->leader_of_term[r->term] == 0) {
			S->leader_of_term[r->term] = (uint8_t)(node + 1);
			if (r->term > S->term_hi)
				S->term_hi = r->term;
		} else if (S->leader_of_term[r->term] != node + 1) {
			sim_fail("two leaders in term %" PRIu64 ": %u and %u",
				 r->term, S->leader_of_term[r->term] - 1, node);
		}
	}
	if (r->role != n->role_seen) {
		sim_trace("node %u: %s -> %s term %" PRIu64, node,
			  sim_role_name[n->role_seen], sim_role_name[r->role],
			  r->term);
		if (r->role == RAFT_LEADER) {
			S->elections++;
			sim_check_new_leader(node);
		}
		if (n->role_seen == RAFT_LEADER)
			memset(n->taken_over, 0, sizeof(n->taken_over));
		n->role_seen = r->role;
	}
	for (l = 0; l < r->logs; l++) {
		struct plog *pl = r->log[l];
		uint64_t idx, from = pl->mod_lo;

		if (from <= pl->snap_index)
			from = pl->snap_index + 1;
		for (idx = from; idx <= pl->last && !S->failed; idx++)
			sim_check_entry(node, l, pl, idx);
		plog_mod_clear(pl);
		if (pl->commit < n->checked_commit[l])
			sim_fail("node %u log %u commit went back", node, l);
		for (idx = n->checked_commit[l] + 1;
		     idx <= pl->commit && !S->failed; idx++)
			sim_check_committed(node, l, pl, idx);
		n->checked_commit[l] = pl->commit;
	}
	if (n->crashed_amnesic && !raft_is_amnesic(r)) {
		for (l = 0; l < S->parts; l++)
			if (r->log[l]->last < n->crash_commit[l])
				sim_fail("node %u declared caught up without "
					 "log %u's committed entries",
					 node, l);
		n->crashed_amnesic = false;
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

/* raft_ops.apply: the state machine, and the answer to the client. */
static void
sim_apply(void *ctx, uint16_t log, uint64_t index, const struct lock_entry *e)
{
	struct sim_node *n = ctx;
	struct sim_sm_result res = sim_sm_apply(&n->sm[log], e);
	unsigned k = e->key.bytes[1] % SIM_KEYS, c;

	if (n->r->role != RAFT_LEADER)
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
sim_save(void *ctx, uint16_t log, uint8_t *buf, uint32_t max)
{
	struct sim_node *n = ctx;

	return sim_sm_save(&n->sm[log], buf, max);
}

static void
sim_load(void *ctx, uint16_t log, const uint8_t *buf, uint32_t len)
{
	struct sim_node *n = ctx;

	S->snapshots++;
	sim_sm_load(&n->sm[log], buf, len);
}

static void
sim_takeover(void *ctx, uint16_t log, uint64_t now_ms)
{
	struct sim_node *n = ctx;

	sim_sm_takeover(&n->sm[log], now_ms);
	n->taken_over[log] = true;
	sim_trace("node %u takes over partition %u", (unsigned)(n - S->node),
		  log);
}

static const struct raft_ops sim_raft_ops = {
	.send = sim_send,
	.apply = sim_apply,
	.save = sim_save,
	.load = sim_load,
	.takeover = sim_takeover,
};

static uint64_t
sim_global_commit(unsigned l)
{
	return S->commit_max[l];
}

/* Voters (of the initial configuration, or promoted) down or amnesic. */
static unsigned
sim_bad_nodes(void)
{
	unsigned i, bad = 0;

	for (i = 0; i < S->nodes; i++) {
		struct sim_node *n = &S->node[i];
		bool voter = (S->voters_initial & (1u << i)) ||
			     raft_membership_is_voter(n->r, (uint8_t)i);

		if (voter && (!n->up || raft_is_amnesic(n->r)))
			bad++;
	}
	return bad;
}

static unsigned
sim_tolerated(void)
{
	return ((unsigned)__builtin_popcount(S->voters_initial) - 1) / 2;
}

static void
sim_crash(unsigned i)
{
	struct sim_node *n = &S->node[i];
	unsigned l;

	n->up = false;
	n->restart_at = S->now + 20 + sim_below(400);
	S->crashes++;
	for (l = 0; l < S->parts; l++)
		n->crash_commit[l] = sim_global_commit(l);
	sim_trace("crash node %u (restart at %" PRIu64 ")", i, n->restart_at);
}

static void
sim_restart(unsigned i, bool amnesic)
{
	struct sim_node *n = &S->node[i];
	struct raft_effects fx = {0};
	unsigned l;

	if (amnesic) {
		n->incarnation++;
		memset(n->sm, 0, sizeof(n->sm));
		n->crashed_amnesic = true;
		for (l = 0; l < S->parts; l++)
			n->checked_commit[l] = 0;
	}
	memset(n->taken_over, 0, sizeof(n->taken_over));
	raft_restart(n->r, S->now, n->incarnation, amnesic, &fx);
	n->up = true;
	n->role_seen = RAFT_FOLLOWER;
	n->next_tick = S->now + 1;
	sim_trace("restart node %u%s incarnation %" PRIu64, i,
		  amnesic ? " with amnesia" : "", n->incarnation);
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

static int
sim_leader(void)
{
	unsigned i;
	int best = -1;

	for (i = 0; i < S->nodes; i++)
		if (S->node[i].up && S->node[i].r->role == RAFT_LEADER &&
		    (best < 0 || S->node[i].r->term > S->node[best].r->term))
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
	} else if (kind < 70) {
		if (S->node[i].up && sim_bad_nodes() + 1 <= sim_tolerated())
			sim_crash(i);
	} else if (kind < 78) {
		if (S->node[i].up)
			sim_restart(i, false);
	} else if (kind < 85) {
		if (lead >= 0 && (unsigned)lead != i) {
			int rc = raft_transfer(S->node[lead].r, (uint8_t)i,
					       S->now, &fx);

			sim_trace("transfer %d -> %u: %d", lead, i, rc);
		}
	} else if (kind < 92) {
		for (j = 0; j < S->nodes; j++) {
			if (!S->node[j].joiner || lead < 0)
				continue;
			if (raft_add_learner(S->node[lead].r, (uint8_t)j,
					     S->now, &fx) == 0)
				sim_trace("add learner %u", j);
		}
	} else if (lead >= 0 && S->node[lead].up &&
		   sim_bad_nodes() + 1 <= sim_tolerated()) {
		sim_crash((unsigned)lead);
	}
	if (lead >= 0 && S->node[lead].up)
		sim_check_node((unsigned)lead);
}

static void
sim_client_step(struct sim_client *cl)
{
	struct lock_entry e;
	struct raft_effects fx = {0};
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
	if (!n->up) {
		cl->guess = (uint8_t)sim_below(S->nodes);
		return;
	}
	idx = raft_propose(n->r, cl->part, &e, S->now, &fx);
	if (idx < 0) {
		if (n->r->leader != RAFT_NONE && idx == -ENOTCONN)
			cl->guess = n->r->leader;
		else
			cl->guess = (uint8_t)sim_below(S->nodes);
		return;
	}
	sim_trace("client %" PRIu64 " req %" PRIu64 " %s p%u k%u at node %u "
		  "index %" PRId64,
		  cl->id, e.request_id,
		  e.op == LOCK_E_ACQUIRE ? "acquire" : "release", cl->part, k,
		  (unsigned)(n - S->node), idx);
	cl->waiting = true;
	cl->sent_ms = S->now;
	sim_check_node((unsigned)(n - S->node));
}

/* Leader: propose EXPIRE entries for leases due (after takeover). */
static void
sim_expire_step(unsigned i)
{
	struct sim_node *n = &S->node[i];
	struct raft_effects fx = {0};
	unsigned p, k;

	if (n->r->role != RAFT_LEADER)
		return;
	for (p = 0; p < S->parts; p++) {
		if (!n->taken_over[p])
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
			if (raft_propose(n->r, (uint16_t)p, &e, S->now, &fx) >=
			    0)
				n->expire_sent[p][k] = S->now;
		}
	}
	sim_check_node(i);
}

static void
sim_deliver(void)
{
	int32_t i = S->wheel[S->now % SIM_WHEEL], keep = -1;

	S->wheel[S->now % SIM_WHEEL] = -1;
	while (i >= 0 && !S->failed) {
		struct sim_msg *sm = &S->pool[i];
		int32_t next = sm->next;
		struct sim_node *n;

		if (sm->at != S->now) {
			sm->next = keep;
			keep = i;
			i = next;
			continue;
		}
		n = &S->node[sm->m.to];
		if (n->up && S->link[sm->m.from][sm->m.to]) {
			struct raft_effects fx = {0};

			sim_trace("deliver %s %u->%u log %u t%" PRIu64 " n%u",
				  sim_type_name[sm->m.type], sm->m.from,
				  sm->m.to, sm->m.log, sm->m.term,
				  sm->m.type == RAFT_MSG_APPEND
					  ? sm->m.u.append.n
					  : 0);
			raft_recv(n->r, &sm->m, S->now, &fx);
			sim_check_node(sm->m.to);
		}
		sm->next = S->free_head;
		S->free_head = i;
		i = next;
	}
	S->wheel[S->now % SIM_WHEEL] = keep;
}

/* Liveness after healing: one leader all up nodes follow, every client
 * served, every partition taken over. */
static bool
sim_is_live(void)
{
	int lead = sim_leader();
	unsigned i, p;

	if (lead < 0)
		return false;
	for (i = 0; i < S->nodes; i++) {
		struct raft *r = S->node[i].r;

		if (!S->node[i].up ||
		    (S->node[i].joiner &&
		     !raft_membership_is_voter(r, (uint8_t)i) &&
		     !(S->node[lead].r->learners & (1u << i))))
			continue;
		if (r->term != S->node[lead].r->term ||
		    r->leader != (uint8_t)lead)
			return false;
	}
	for (p = 0; p < S->parts; p++)
		if (!S->node[lead].taken_over[p])
			return false;
	for (i = 0; i < SIM_CLIENTS; i++)
		if (S->client[i].completed_after_heal == 0)
			return false;
	return true;
}

static void
sim_setup(unsigned nodes, unsigned parts)
{
	unsigned i, batch, inflight, ring;

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
		struct raft_config cfg = {
			.id = (uint8_t)i,
			.voters_initial = S->voters_initial,
			.partitions = (uint16_t)parts,
			.election_ms = SIM_ELECTION_MS,
			.heartbeat_ms = SIM_HEARTBEAT_MS,
			.plog = {.entries_max = ring,
				 .batch_max = batch,
				 .inflight_max = inflight,
				 .snapshot_max = 512},
			.meta = {.entries_max = 32,
				 .batch_max = 4,
				 .inflight_max = 2,
				 .snapshot_max = 16},
			.seed = sim_rand(),
		};

		memset(n, 0, sizeof(*n));
		n->joiner = !(S->voters_initial & (1u << i));
		n->incarnation = 1;
		n->r = raft_create(&cfg, &sim_raft_ops, n, 1, !n->joiner);
		LATCH_ASSERT(n->r != NULL);
		n->up = true;
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
	unsigned i, l;

	for (i = 0; i < S->nodes; i++)
		raft_destroy(S->node[i].r);
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

/* One run. Returns 0, or 1 with S->why on a violation. */
static int
sim_run(uint64_t seed, unsigned nodes, unsigned parts)
{
	uint64_t end = SIM_CHAOS_MS + SIM_HEAL_MS;
	unsigned i, def_nodes, def_parts;

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
		  "dup %u/1000, delay <= %u ms, voters %02x",
		  seed, nodes, parts, S->drop_pm, S->dup_pm, S->delay_max,
		  S->voters_initial);
	for (S->now = 1; S->now <= end && !S->failed; S->now++) {
		if (!S->healing && S->now >= SIM_CHAOS_MS) {
			S->healing = true;
			S->drop_pm = 0;
			S->dup_pm = 0;
			sim_heal_links();
			sim_trace("heal: network whole, every node up");
			for (i = 0; i < nodes; i++) {
				struct raft_effects fx = {0};
				int lead = sim_leader();

				if (!S->node[i].up)
					sim_restart(i, true);
				if (S->node[i].joiner && lead >= 0)
					raft_add_learner(S->node[lead].r,
							 (uint8_t)i, S->now,
							 &fx);
			}
		}
		if (!S->healing && sim_chance(S->fault_pm))
			sim_fault();
		for (i = 0; i < nodes; i++) {
			struct sim_node *n = &S->node[i];

			if (!n->up && S->now >= n->restart_at)
				sim_restart(i, true);
		}
		sim_deliver();
		for (i = 0; i < nodes && !S->failed; i++) {
			struct sim_node *n = &S->node[i];
			struct raft_effects fx = {0};

			if (!n->up || S->now < n->next_tick)
				continue;
			raft_tick(n->r, S->now, &fx);
			n->next_tick = S->now + SIM_TICK_MS;
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
