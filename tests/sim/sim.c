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
 * as learner; members removed (the leader too) and added back later;
 * clients taking, renewing and releasing locks through the
 * leader's workers. The state machine of every partition is the real lock
 * table (dataplane/lock_table.h over common/key_index.h): apply, snapshots,
 * takeover, and the leader's timers proposing EXPIRE entries. Time is
 * simulated in milliseconds; each node's clock is the global time plus an
 * offset of its own drawn from the seed (--skew, 0 .. 2 * skew ms, so
 * clocks differ by up to 2 * skew): entries carry their proposer's clock,
 * so replicas must agree whatever the clocks say. All randomness comes
 * from one PRNG seeded by the seed, so `latch-sim --seed S` replays a run.
 *
 * After every step it checks: at most one leader per term (control or
 * dataplane); log matching (same index and term => same entry and same
 * history); committed entries never change and every new leader (meta
 * log: the control half; each partition: its replicator) holds them all;
 * replicas at the same applied index have the same holders, waiters and
 * last token, and the same lock_table_digest() (takeovers are log
 * entries, so nothing may part them); no two clients hold one exclusive lock in any applied
 * state; fencing tokens per lock strictly increase across everything any
 * client was told; a dataplane that lost its logs backs no granted vote,
 * and is not declared caught up, before holding everything committed
 * before its crash; a new leader is a voter of its configuration, and a
 * leader that removed itself steps down within an election timeout of
 * that removal's commit; lock_table_check_invariants() every 64 ms. After
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
#include "common/key_index.h"
#include "control/raft/raft.h"
#include "control/raft_wire.h"
#include "dataplane/lock_table.h"
#include "dataplane/prepl.h"

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
/* lock_table_check_invariants() is O(pools): every this many ms. */
#define SIM_INVARIANTS_MS 64

/*
 * The lock table of each partition of each node. Keys per partition: few,
 * so clients contend. The pools are sized so that the largest state they
 * can hold always fits one SNAPSHOT message (RAFT_SNAPSHOT_MAX): plog's
 * save callback cannot fail, so a state that did not fit could not be
 * compacted (docs/raft.md, "the simulator"). Fuller pools answer BUSY,
 * which the table counts and the clients survive.
 */
#define SIM_KEYS        4
#define SIM_LOCKS_MAX   64 /* key index slots; only SIM_KEYS are used */
#define SIM_HOLDERS_MAX 6
#define SIM_WAITERS_MAX 4
#define SIM_DEDUP_MAX   7
/* Snapshot record sizes, from docs/snapshot.md (format version 1). */
#define SIM_SNAP_FIXED  (60 + 8) /* header and trailer */
#define SIM_SNAP_LOCK   (11 + 2) /* our keys are 2 bytes */
#define SIM_SNAP_REQ    58
#define SIM_SNAP_ANSWER 41
_Static_assert(SIM_SNAP_FIXED + SIM_KEYS * SIM_SNAP_LOCK +
			       (SIM_HOLDERS_MAX + SIM_WAITERS_MAX) *
				       SIM_SNAP_REQ +
			       SIM_DEDUP_MAX * SIM_SNAP_ANSWER <=
		       RAFT_SNAPSHOT_MAX,
	       "the fullest table must fit one SNAPSHOT message");
/* Effects of one entry, and positions told: index * this + ordinal. */
#define SIM_FX_PER_ENTRY 64
/*
 * Default clock skew: offsets in 0 .. 2 * 50 ms, so two nodes differ by
 * up to 100 ms, more than a heartbeat and a fifth of the longest wait:
 * enough to make a skewed EXPIRE land inside another node's lease.
 */
#define SIM_SKEW_MS 50

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

/*
 * What the simulator knows of who holds a key of one table, rebuilt from
 * the table's effects (grants, releases, LOST) and checked against
 * lock_table_query() after every entry. After a snapshot load the
 * holders of a shared lock are unknown until it is free again.
 */
struct sim_shadow {
	bool unknown;
	bool shared;
	uint32_t n;
	/* Waiters are granted in place, in batches for shared ones, so a
	 * lock may have as many holders as the request pool has records. */
	uint64_t client[SIM_HOLDERS_MAX + SIM_WAITERS_MAX];
	uint64_t token[SIM_HOLDERS_MAX + SIM_WAITERS_MAX];
};

/*
 * Callback context of one partition replicator, and its lock table.
 * takeover_proposed / takeover_applied: the terms whose TAKEOVER entry
 * this node proposed / applied (0: none), as latchd's worker keeps them.
 */
struct sim_part {
	struct sim_node *n;
	uint16_t p;
	struct lock_table *lt;
	struct key_index *ki;
	uint64_t applied;
	uint64_t takeover_proposed;
	uint64_t takeover_applied;
	struct sim_shadow shadow[SIM_KEYS];
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
	uint64_t skew; /* this node's clock is S->now + skew */
	uint8_t role_seen;
	bool leading_seen[SIM_PARTS_MAX];
	uint64_t amnesic_inc; /* born without logs, not yet verified */
	uint64_t crash_commit[SIM_LOGS_MAX];
	uint64_t checked_commit[SIM_LOGS_MAX];
	bool taken_over[SIM_PARTS_MAX];
	struct sim_chan down; /* control -> dataplane */
	struct sim_chan up;   /* dataplane -> control */
};

struct sim_ref_slot {
	uint64_t term;
	uint64_t fp;
};

/* A grant some client was told: position (index, ordinal) and token. */
struct sim_grant {
	uint64_t pos;
	uint64_t token;
	uint64_t client_id;
	uint64_t request_id;
};

struct sim_client {
	uint64_t id;
	uint64_t request_id;
	bool waiting;
	uint16_t part;
	uint64_t sent_ms;
	uint8_t guess;
	struct lock_entry last; /* the request in flight, for retries */
	uint64_t completed_after_heal;
	uint64_t held_token[SIM_PARTS_MAX][SIM_KEYS];
};

struct sim {
	uint64_t seed;
	uint64_t rng;
	bool trace;
	unsigned skew_ms; /* --skew: node clocks offset by 0 .. 2 * this */
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
	uint64_t *digest; /* [part][idx] */
	uint64_t *shape;  /* [part][idx] */
	uint64_t applied_hi[SIM_PARTS_MAX];
	/* statistics */
	uint64_t elections, crashes, commits_told, snapshots, grants_told;
	/* Snapshot bytes per SNAPSHOT message this seed (plog chunk_max),
	 * and the loads that took more than one chunk. */
	uint32_t chunk_max;
	uint64_t snapshots_chunked;
	bool chunks; /* --chunks: small chunks in half the seeds */
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

/* Node @i's clock: the global time plus its own offset (--skew). */
static uint64_t
sim_clock(unsigned i)
{
	return S->now + S->node[i].skew;
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
	"TIMEOUT_NOW", "PULL",    "PULL_REPLY",    "SNAPSHOT_REPLY",
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
	case RAFT_MSG_SNAPSHOT_REPLY:
		return hdr + sizeof(struct raft_msg_snapshot_reply);
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
		for (p = 0; p < S->parts && n->dp_up && S->trace; p++) {
			const struct plog *pl = n->pp[p]->log;

			sim_trace("  partition %u: last %" PRIu64
				  " commit %" PRIu64 " applied %" PRIu64
				  " snapshot %" PRIu64 " ring %u%s%s",
				  p, pl->last, pl->commit, pl->applied,
				  pl->snap_index, pl->cfg.entries_max,
				  prepl_is_amnesic(n->pp[p]) ? " amnesic" : "",
				  n->pp[p]->lead_failed ? " lead-failed" : "");
		}
		if (c->role == RAFT_LEADER) {
			S->elections++;
			sim_check_new_leader(node, S->parts, c->meta, c->term);
			if (!raft_membership_is_voter(c, (uint8_t)node))
				sim_fail("node %u leads term %" PRIu64
					 " but is no voter of its "
					 "configuration",
					 node, c->term);
		}
		n->role_seen = c->role;
	}
	/* §4.2.2: a leader that removed itself leads on only until the
	 * removal commits, then hands over within an election timeout. */
	if (n->ctl_up && c->role == RAFT_LEADER &&
	    !raft_membership_is_voter(c, (uint8_t)node) &&
	    c->meta->commit >= c->config_index && c->leave_deadline != 0 &&
	    c->now > c->leave_deadline + SIM_TICK_MS)
		sim_fail("node %u left the configuration but still leads "
			 "term %" PRIu64,
			 node, c->term);
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

/* The key of lock @k of partition @p, as clients and tables name it. */
static void
sim_key(struct lock_key *key, unsigned p, unsigned k)
{
	uint8_t b[2] = {(uint8_t)p, (uint8_t)k};
	int rc = lock_key_set(key, b, sizeof(b));

	LATCH_ASSERT(rc == 0);
}

/*
 * Fencing tokens per lock strictly increase across everything any client
 * was told: grants are ordered by their position (log index, then the
 * effect's rank within the entry) and a token names one grant only. A
 * fresh grant (a token the table had not handed out before the entry)
 * must fit that order against every grant recorded so far, on any node; a
 * retried request told its first answer again (@fresh false) must name
 * the grant it named then.
 */
static void
sim_check_grant(unsigned p, unsigned k, uint64_t pos, uint64_t token,
		uint64_t client_id, uint64_t request_id, bool fresh)
{
	unsigned i, *cnt = &S->grants_n[p][k];
	struct sim_grant *g = S->grants[p][k];

	if (token == 0) {
		sim_fail("fencing tokens: partition %u key %u: grant at "
			 "%" PRIu64 ".%" PRIu64 " without a token",
			 p, k, pos / SIM_FX_PER_ENTRY, pos % SIM_FX_PER_ENTRY);
		return;
	}
	for (i = 0; i < *cnt; i++) {
		if (g[i].token == token) {
			if (g[i].client_id != client_id ||
			    g[i].request_id != request_id ||
			    (fresh && g[i].pos != pos))
				sim_fail("fencing tokens: partition %u key %u: "
					 "token %" PRIx64 " told for client "
					 "%" PRIu64 " request %" PRIu64
					 " at index %" PRIu64 " and for client "
					 "%" PRIu64 " request %" PRIu64
					 " at index %" PRIu64,
					 p, k, token, client_id, request_id,
					 pos / SIM_FX_PER_ENTRY, g[i].client_id,
					 g[i].request_id,
					 g[i].pos / SIM_FX_PER_ENTRY);
			return;
		}
		if (fresh && (g[i].pos == pos ||
			      (g[i].pos < pos) != (g[i].token < token))) {
			sim_fail("fencing tokens: partition %u key %u: index "
				 "%" PRIu64 " token %" PRIx64
				 " vs index %" PRIu64 " token %" PRIx64,
				 p, k, pos / SIM_FX_PER_ENTRY, token,
				 g[i].pos / SIM_FX_PER_ENTRY, g[i].token);
			return;
		}
	}
	if (fresh && *cnt < SIM_GRANTS_MAX)
		g[(*cnt)++] =
			(struct sim_grant){pos, token, client_id, request_id};
}

/* A fresh grant in the shadow: no two clients hold an exclusive lock. */
static void
sim_shadow_grant(struct sim_part *sp, unsigned k, const struct lock_effect *fx)
{
	struct sim_shadow *sh = &sp->shadow[k];
	bool shared = (fx->flags & LATCH_F_SHARED) != 0;

	if (sh->unknown)
		return;
	if (sh->n > 0 && (!shared || !sh->shared)) {
		sim_fail("node %u partition %u key %u: client %" PRIu64
			 " granted %s (token %" PRIx64 ") while client "
			 "%" PRIu64 " holds it %s",
			 sim_node_id(sp->n), sp->p, k, fx->client_id,
			 shared ? "shared" : "exclusive", fx->token,
			 sh->client[0], sh->shared ? "shared" : "exclusive");
		return;
	}
	if (sh->n == SIM_HOLDERS_MAX + SIM_WAITERS_MAX) {
		sim_fail("node %u partition %u key %u: more holders than "
			 "the request pool",
			 sim_node_id(sp->n), sp->p, k);
		return;
	}
	sh->shared = shared;
	sh->client[sh->n] = fx->client_id;
	sh->token[sh->n] = fx->token;
	sh->n++;
}

/* A grant ended (released, expired, or its session ended). */
static void
sim_shadow_drop(struct sim_part *sp, unsigned k, uint64_t token)
{
	struct sim_shadow *sh = &sp->shadow[k];
	unsigned i;

	if (sh->unknown)
		return;
	for (i = 0; i < sh->n; i++) {
		if (sh->token[i] != token)
			continue;
		sh->n--;
		sh->client[i] = sh->client[sh->n];
		sh->token[i] = sh->token[sh->n];
		return;
	}
	sim_fail("node %u partition %u key %u: token %" PRIx64
		 " ended but was not held",
		 sim_node_id(sp->n), sp->p, k, token);
}

/*
 * Rebuild the shadow from the table (after a load): exact for a free or
 * exclusive lock or a single shared holder, unknown for several shared
 * holders until the lock is exclusive or free again.
 */
static void
sim_shadow_from_table(struct sim_part *sp, unsigned k)
{
	struct sim_shadow *sh = &sp->shadow[k];
	struct lock_query q;
	struct lock_key key;

	sim_key(&key, sp->p, k);
	lock_table_query(sp->lt, &key, S->now, &q);
	memset(sh, 0, sizeof(*sh));
	if (q.holders > 1) {
		sh->unknown = true;
	} else if (q.holders == 1) {
		sh->n = 1;
		sh->shared = q.shared;
		sh->client[0] = q.holder;
		sh->token[0] = q.token;
	}
}

/* Context of one lock_table_apply(): where its effects go. */
struct sim_fx_ctx {
	struct sim_part *sp;
	uint64_t index;
	unsigned rank;         /* effects so far */
	uint64_t token_before; /* lock_table_token_last() before */
	uint64_t dedup_before; /* counters' dedup_hits before */
	bool tell;             /* the applier leads: clients are told */
};

/* lock_effect_fn: check the effect, then tell the client if we lead. */
static void
sim_effect(void *ctx, const struct lock_effect *fx)
{
	struct sim_fx_ctx *x = ctx;
	struct sim_part *sp = x->sp;
	uint64_t pos = x->index * SIM_FX_PER_ENTRY + x->rank;
	bool replay, granted, ended;
	struct sim_client *cl = NULL;
	unsigned k, c;

	if (++x->rank > SIM_FX_PER_ENTRY) {
		sim_fail("index %" PRIu64 ": more than %u effects", x->index,
			 SIM_FX_PER_ENTRY);
		return;
	}
	if (fx->key == NULL || fx->key->len != 2 ||
	    fx->key->bytes[0] != sp->p || fx->key->bytes[1] >= SIM_KEYS) {
		sim_fail("node %u partition %u index %" PRIu64
			 ": effect %u names a key the clients never used",
			 sim_node_id(sp->n), sp->p, x->index, fx->kind);
		return;
	}
	k = fx->key->bytes[1];
	/* A retry answered from the dedup window changes nothing. */
	replay = lock_table_counters(sp->lt)->dedup_hits != x->dedup_before;
	granted = fx->status == LATCH_S_OK &&
		  ((fx->kind == LOCK_FX_REPLY && fx->op == LATCH_OP_ACQUIRE) ||
		   fx->kind == LOCK_FX_GRANTED);
	ended = fx->kind == LOCK_FX_LOST ||
		(fx->kind == LOCK_FX_REPLY && fx->op == LATCH_OP_RELEASE &&
		 fx->status == LATCH_S_OK && !replay);
	if (granted) {
		bool fresh = fx->token > x->token_before;

		if (fresh == replay)
			sim_fail("node %u partition %u index %" PRIu64
				 ": grant token %" PRIx64 " is %s but the "
				 "table %s a retry",
				 sim_node_id(sp->n), sp->p, x->index, fx->token,
				 fresh ? "new" : "old",
				 replay ? "answered" : "did not answer");
		sim_check_grant(sp->p, k, pos, fx->token, fx->client_id,
				fx->request_id, fresh);
		if (fresh)
			sim_shadow_grant(sp, k, fx);
	}
	if (ended)
		sim_shadow_drop(sp, k, fx->token);
	if (!x->tell)
		return;
	for (c = 0; c < SIM_CLIENTS; c++)
		if (S->client[c].id == fx->client_id)
			cl = &S->client[c];
	if (cl == NULL)
		return;
	if (granted) {
		S->grants_told++;
		cl->held_token[sp->p][k] = fx->token;
	} else if (ended && cl->held_token[sp->p][k] == fx->token) {
		cl->held_token[sp->p][k] = 0;
	}
	if (fx->kind == LOCK_FX_REPLY && cl->waiting &&
	    cl->request_id == fx->request_id) {
		S->commits_told++;
		cl->waiting = false;
		if (S->healing)
			cl->completed_after_heal++;
	}
}

/* A fingerprint of who holds and waits for each key, and the last token:
 * equal on every replica at one index, whatever its takeovers. */
static uint64_t
sim_shape(const struct sim_part *sp)
{
	uint64_t h = 0xcbf29ce484222325ull, t;
	unsigned k;

	t = lock_table_token_last(sp->lt);
	h = sim_hash(h, &t, sizeof(t));
	for (k = 0; k < SIM_KEYS; k++) {
		struct lock_query q;
		struct lock_key key;
		uint64_t v[5];

		sim_key(&key, sp->p, k);
		lock_table_query(sp->lt, &key, S->now, &q);
		v[0] = q.shared;
		v[1] = q.holders;
		v[2] = q.waiters;
		v[3] = q.holder;
		v[4] = q.token;
		h = sim_hash(h, v, sizeof(v));
	}
	return h | 1;
}

/*
 * After the table of @sp changed to the state of index sp->applied: the
 * shadow agrees with the table; every replica at that index has the same
 * holders, waiters and last token (checked first, for a clearer message)
 * and the same lock_table_digest(): deadlines included, since takeovers
 * are replicated entries and every entry carries its proposer's clock.
 */
static void
sim_check_state(struct sim_part *sp)
{
	uint64_t idx = sp->applied, shape, dg, *d;
	unsigned k;

	for (k = 0; k < SIM_KEYS && !S->failed; k++) {
		struct sim_shadow *sh = &sp->shadow[k];
		struct lock_query q;
		struct lock_key key;

		sim_key(&key, sp->p, k);
		lock_table_query(sp->lt, &key, S->now, &q);
		if (q.holders > 1 && !q.shared)
			sim_fail("node %u partition %u key %u: %u holders of "
				 "an exclusive lock",
				 sim_node_id(sp->n), sp->p, k, q.holders);
		if (sh->unknown) {
			if (q.holders <= 1 || !q.shared)
				sim_shadow_from_table(sp, k);
			continue;
		}
		if (sh->n != q.holders ||
		    (sh->n > 0 && sh->shared != q.shared) ||
		    (sh->n == 1 &&
		     (sh->client[0] != q.holder || sh->token[0] != q.token)))
			sim_fail("node %u partition %u key %u index %" PRIu64
				 ": the table's holders (%u, first %" PRIu64
				 ") differ from its effects' (%u)",
				 sim_node_id(sp->n), sp->p, k, idx, q.holders,
				 q.holder, sh->n);
	}
	if (idx == 0 || idx >= SIM_IDX_MAX || S->failed)
		return;
	if (idx > S->applied_hi[sp->p])
		S->applied_hi[sp->p] = idx;
	shape = sim_shape(sp);
	if (S->shape[(size_t)sp->p * SIM_IDX_MAX + idx] == 0)
		S->shape[(size_t)sp->p * SIM_IDX_MAX + idx] = shape;
	else if (S->shape[(size_t)sp->p * SIM_IDX_MAX + idx] != shape)
		sim_fail("node %u partition %u index %" PRIu64 ": holders, "
			 "waiters or last token differ from another replica's",
			 sim_node_id(sp->n), sp->p, idx);
	/* | 1: 0 marks an index no replica reached yet. */
	dg = lock_table_digest(sp->lt) | 1;
	d = &S->digest[(size_t)sp->p * SIM_IDX_MAX + idx];
	if (*d == 0)
		*d = dg;
	else if (*d != dg)
		sim_fail("node %u partition %u index %" PRIu64
			 ": lock_table_digest %" PRIx64
			 " differs from another replica's %" PRIx64,
			 sim_node_id(sp->n), sp->p, idx, dg, *d);
}

/* prepl_ops.apply: the lock table, its effects, and the checks. */
static void
sim_apply(void *ctx, uint64_t index, const struct lock_entry *e)
{
	struct sim_part *sp = ctx;
	struct sim_fx_ctx x = {
		.sp = sp,
		.index = index,
		.token_before = lock_table_token_last(sp->lt),
		.dedup_before = lock_table_counters(sp->lt)->dedup_hits,
		.tell = prepl_is_leader(sp->n->pp[sp->p]),
	};

	/* Every index in order, less the no-ops plog keeps to itself. */
	if (index <= sp->applied || index != sp->n->pp[sp->p]->log->applied)
		sim_fail("node %u partition %u applied %" PRIu64
			 " after %" PRIu64,
			 sim_node_id(sp->n), sp->p, index, sp->applied);
	/* One leader per term: a TAKEOVER of its leading term is its own. */
	if (e->op == LOCK_E_TAKEOVER)
		sp->takeover_applied = e->term;
	lock_table_apply(sp->lt, e, sim_effect, &x);
	sp->applied = index;
	sim_check_state(sp);
}

/* prepl_ops.save: the whole table, as of the last applied entry. */
static uint32_t
sim_save(void *ctx, uint8_t *buf, uint32_t max)
{
	struct sim_part *sp = ctx;
	int64_t len = lock_table_save(sp->lt, buf, max);

	if (len <= 0) {
		/* Impossible by the pools' sizes (_Static_assert above). */
		sim_fail("node %u partition %u: snapshot of %" PRIu64
			 " bytes does not fit %u",
			 sim_node_id(sp->n), sp->p,
			 lock_table_save_size(sp->lt), max);
		return 0;
	}
	return (uint32_t)len;
}

/* A big-endian u32 of a snapshot header, for messages. */
static unsigned
sim_be32(const uint8_t *p)
{
	return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 |
	       (unsigned)p[2] << 8 | p[3];
}

/* prepl_ops.load: replace the table by a snapshot from the leader. */
static void
sim_load(void *ctx, const uint8_t *buf, uint32_t len)
{
	struct sim_part *sp = ctx;
	int rc = lock_table_load(sp->lt, buf, len);
	unsigned k;

	S->snapshots++;
	if (len > S->chunk_max)
		S->snapshots_chunked++;
	if (rc != 0) {
		/* The header's counts (docs/snapshot.md) say what failed. */
		sim_fail("node %u partition %u: lock_table_load of %u bytes: "
			 "%d (locks %u holders %u waiters %u dedup %u)",
			 sim_node_id(sp->n), sp->p, len, rc,
			 len >= 60 ? sim_be32(buf + 40) : 0,
			 len >= 60 ? sim_be32(buf + 44) : 0,
			 len >= 60 ? sim_be32(buf + 48) : 0,
			 len >= 60 ? sim_be32(buf + 56) : 0);
		return;
	}
	sp->applied = sp->n->pp[sp->p]->log->snap_index;
	for (k = 0; k < SIM_KEYS; k++)
		sim_shadow_from_table(sp, k);
	sim_check_state(sp);
}

/*
 * Propose the TAKEOVER entry of @sp's leading term at the node's clock,
 * as latchd's worker does: from the takeover callback, and again at each
 * expiry step while the ring or a transfer refuses it.
 */
static void
sim_propose_takeover(struct sim_part *sp, uint64_t now_ms)
{
	struct prepl *pp = sp->n->pp[sp->p];
	unsigned i = sim_node_id(sp->n);
	struct lock_entry e;
	int64_t idx;

	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_TAKEOVER;
	e.term = pp->view.term;
	e.now_ms = now_ms;
	idx = prepl_propose(pp, &e, now_ms);
	if (idx >= 0)
		sp->takeover_proposed = e.term;
	sim_trace("node %u proposes takeover of partition %u term %" PRIu64
		  " at %" PRIu64 ": index %" PRId64,
		  i, sp->p, e.term, e.now_ms, idx);
}

/* prepl_ops.takeover: replicate the takeover (lock_table.h). */
static void
sim_takeover(void *ctx, uint64_t now_ms)
{
	struct sim_part *sp = ctx;

	sp->n->taken_over[sp->p] = true;
	sim_propose_takeover(sp, now_ms);
}

/* A dataplane (re)start: an empty table and key index per partition. */
static void
sim_tables_create(struct sim_node *n)
{
	const struct lock_table_config cfg = {
		.locks_max = SIM_LOCKS_MAX,
		.holders_max = SIM_HOLDERS_MAX,
		.waiters_max = SIM_WAITERS_MAX,
		.sessions_max = 0, /* the clients open no sessions */
		.dedup_max = SIM_DEDUP_MAX,
		.lease_default_ms = 300,
		.lease_max_ms = 1000,
		.wait_default_ms = 200,
		.wait_max_ms = 500,
		.session_default_ms = 1000,
		.session_max_ms = 1000,
		.timer_slots = 1024, /* above every lease and wait */
	};
	unsigned p;

	for (p = 0; p < S->parts; p++) {
		struct sim_part *sp = &n->part[p];

		sp->ki = key_index_create(SIM_LOCKS_MAX, NULL);
		LATCH_ASSERT(sp->ki != NULL);
		sp->lt = lock_table_create(&cfg, &key_index_ops, sp->ki);
		LATCH_ASSERT(sp->lt != NULL);
		sp->applied = 0;
		sp->takeover_proposed = 0;
		sp->takeover_applied = 0;
		memset(sp->shadow, 0, sizeof(sp->shadow));
	}
}

static void
sim_tables_destroy(struct sim_node *n)
{
	unsigned p;

	for (p = 0; p < S->parts; p++) {
		lock_table_destroy(n->part[p].lt);
		key_index_destroy(n->part[p].ki);
		n->part[p].lt = NULL;
		n->part[p].ki = NULL;
	}
}

/* lock_table_check_invariants() on every table (expensive: periodic). */
static void
sim_check_tables(void)
{
	unsigned i, p;

	for (i = 0; i < S->nodes; i++)
		for (p = 0; p < S->parts; p++)
			lock_table_check_invariants(S->node[i].part[p].lt);
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

/* Nodes down or amnesic. */
static uint8_t
sim_bad_set(void)
{
	unsigned i;
	uint8_t bad = 0;

	for (i = 0; i < S->nodes; i++) {
		struct sim_node *n = &S->node[i];

		if (!n->ctl_up || !n->dp_up || sim_is_amnesic(n))
			bad |= (uint8_t)(1u << i);
	}
	return bad;
}

/*
 * At most a minority of @voters in @bad, also once any one of @learners
 * is promoted: a leader may promote a learner whose dataplane has just
 * crashed, before it hears of that.
 */
static bool
sim_config_ok(uint8_t voters, uint8_t learners, uint8_t bad)
{
	unsigned i;

	for (i = 0; i <= RAFT_NODES_MAX; i++) {
		uint8_t v = voters;

		if (i < RAFT_NODES_MAX) {
			if (!(learners & (1u << i)))
				continue;
			v |= (uint8_t)(1u << i);
		}
		if ((unsigned)__builtin_popcount(v & bad) >
		    ((unsigned)__builtin_popcount(v) - 1) / 2)
			return false;
	}
	return true;
}

/*
 * The design's assumption (docs/raft.md, "liveness"), with membership
 * changes: in the configuration each node holds (the initial one while
 * its meta log has none), at most a minority of the voters is down or
 * amnesic, with the nodes of @more counted as bad too.
 */
static bool
sim_within_assumption(uint8_t more)
{
	uint8_t bad = sim_bad_set() | more;
	unsigned i;

	for (i = 0; i < S->nodes; i++)
		if (!sim_config_ok(S->node[i].c->voters, S->node[i].c->learners,
				   bad))
			return false;
	return true;
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
	raft_ctl_restart(n->c, sim_clock(i), n->ctl_incarnation, &fx);
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
	sim_tables_destroy(n);
	sim_tables_create(n);
	n->amnesic_inc = n->incarnation;
	for (p = 0; p < S->parts; p++) {
		prepl_restart(n->pp[p], sim_clock(i), n->incarnation);
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

/*
 * The leader @lead removes member @i (itself too), if the configuration
 * that results still meets the design's assumption (an operator removes
 * a healthy voter, or a sick one; never so many that no quorum is left)
 * and keeps two voters, so one of them may still crash or be removed.
 */
static void
sim_remove(int lead, unsigned i)
{
	struct raft_ctl *lc = S->node[lead].c;
	uint8_t bit = (uint8_t)(1u << i), v = (uint8_t)(lc->voters & ~bit);
	struct raft_effects fx = {0};
	int rc;

	if (!((lc->voters | lc->learners) & bit) || __builtin_popcount(v) < 2 ||
	    !sim_config_ok(v, (uint8_t)(lc->learners & ~bit), sim_bad_set()))
		return;
	rc = raft_ctl_remove_member(lc, (uint8_t)i, sim_clock((unsigned)lead),
				    &fx);
	sim_trace("remove %s %u (leader %d): %d",
		  (lc->learners & bit) ? "learner" : "voter", i, lead, rc);
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
		if (whole && sim_within_assumption((uint8_t)(1u << i)))
			sim_crash(i, true, true);
	} else if (kind < 70) {
		if (whole && sim_within_assumption((uint8_t)(1u << i)))
			sim_crash(i, false, true);
	} else if (kind < 78) {
		if (whole && sim_within_assumption((uint8_t)(1u << i)))
			sim_crash(i, true, false);
	} else if (kind < 85) {
		if (lead >= 0 && (unsigned)lead != i) {
			int rc = raft_ctl_transfer(S->node[lead].c, (uint8_t)i,
						   sim_clock((unsigned)lead),
						   &fx);

			sim_trace("transfer %d -> %u: %d", lead, i, rc);
		}
	} else if (kind < 90) {
		/* Joiners, and nodes removed earlier, (re)join as learners. */
		for (j = 0; j < S->nodes && lead >= 0; j++) {
			struct raft_ctl *lc = S->node[lead].c;

			if ((lc->voters | lc->learners) & (1u << j))
				continue;
			if (raft_ctl_add_learner(lc, (uint8_t)j,
						 sim_clock((unsigned)lead),
						 &fx) == 0)
				sim_trace("add learner %u", j);
		}
	} else if (kind < 95) {
		if (lead >= 0)
			sim_remove(lead, i);
	} else if (lead >= 0 && S->node[lead].dp_up &&
		   sim_within_assumption((uint8_t)(1u << lead))) {
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

/*
 * A client: one request at a time. It acquires (exclusive or shared, try
 * or wait), renews or releases what it was told it holds, through the
 * worker it believes leads. After a timeout it retries the same request
 * (same request id: the table must answer it once) or gives up.
 */
static void
sim_client_step(struct sim_client *cl)
{
	struct lock_entry e;
	struct sim_node *n;
	unsigned k;
	int64_t idx;
	bool retry = false;

	if (cl->waiting) {
		if (S->now - cl->sent_ms < SIM_CLIENT_TIMEOUT_MS)
			return;
		cl->waiting = false;
		cl->guess = (uint8_t)sim_below(S->nodes);
		retry = sim_below(2) == 0;
	}
	if (!retry && !sim_chance(S->healing ? 100 : 30))
		return;
	if (retry) {
		e = cl->last;
		k = e.key.bytes[1];
	} else {
		memset(&e, 0, sizeof(e));
		cl->part = (uint16_t)sim_below(S->parts);
		k = sim_below(SIM_KEYS);
		e.client_id = cl->id;
		e.request_id = ++cl->request_id;
		sim_key(&e.key, cl->part, k);
		if (cl->held_token[cl->part][k] != 0 && sim_chance(600)) {
			e.op = sim_chance(250) ? LOCK_E_RENEW : LOCK_E_RELEASE;
			e.token = cl->held_token[cl->part][k];
			e.lease_ms = 100 + sim_below(400);
		} else {
			e.op = LOCK_E_ACQUIRE;
			e.lease_ms = 100 + sim_below(400);
			if (sim_chance(300))
				e.flags |= LATCH_F_SHARED;
			if (sim_chance(300)) {
				e.flags |= LATCH_F_WAIT;
				e.wait_ms = 50 + sim_below(300);
			}
		}
		cl->last = e;
	}
	n = &S->node[cl->guess % S->nodes];
	if (!n->dp_up) {
		cl->guess = (uint8_t)sim_below(S->nodes);
		return;
	}
	/* An entry carries its proposer's clock (lock_table.h). */
	e.now_ms = sim_clock(sim_node_id(n));
	idx = prepl_propose(n->pp[cl->part], &e, e.now_ms);
	if (idx < 0) {
		uint8_t l = sim_redirect(n, cl->part);

		if (l != RAFT_NONE && l < S->nodes && idx == -ENOTCONN)
			cl->guess = l;
		else
			cl->guess = (uint8_t)sim_below(S->nodes);
		return;
	}
	sim_trace("client %" PRIu64 " req %" PRIu64 "%s op %u flags %x p%u "
		  "k%u at node %u index %" PRId64,
		  cl->id, e.request_id, retry ? " (retry)" : "", e.op, e.flags,
		  cl->part, k, sim_node_id(n), idx);
	cl->waiting = true;
	cl->sent_ms = S->now;
	sim_check_node(sim_node_id(n));
}

/*
 * Leader, after takeover: the TAKEOVER entry proposed if it was refused
 * so far; once it is applied here, the table's timers turn due leases and
 * waits into EXPIRE entries (lock_table_tick), proposed like any entry.
 * One that is refused (ring full, transfer) fires again after the
 * table's retry. Waiting for the TAKEOVER to apply only saves EXPIREs
 * that would be no-ops: one proposed after it is re-checked against the
 * deadlines it extended, on every replica alike (as in latchd's worker).
 */
static void
sim_expire_step(unsigned i)
{
	struct sim_node *n = &S->node[i];
	struct lock_entry out[16];
	unsigned p, j, cnt;

	if (!n->dp_up)
		return;
	for (p = 0; p < S->parts; p++) {
		struct sim_part *sp = &n->part[p];
		uint64_t term = n->pp[p]->view.term;

		if (!prepl_is_leader(n->pp[p]) || !n->taken_over[p])
			continue;
		if (sp->takeover_proposed != term)
			sim_propose_takeover(sp, sim_clock(i));
		if (sp->takeover_applied != term)
			continue;
		cnt = lock_table_tick(sp->lt, sim_clock(i), out, 16);
		for (j = 0; j < cnt; j++) {
			int64_t idx =
				prepl_propose(n->pp[p], &out[j], sim_clock(i));

			sim_trace("node %u proposes expire op %u p%u k%u at "
				  "index %" PRId64,
				  i, out[j].op, p, out[j].key.bytes[1], idx);
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
	case RAFT_MSG_SNAPSHOT_REPLY:
	case RAFT_MSG_PULL:
	case RAFT_MSG_PULL_REPLY:
		return m->log < S->parts;
	default:
		return false;
	}
}

/*
 * ICMP port unreachable, as latch-control's peer socket reports it
 * (raft_ctl_peer_gone): a control message reaching a node whose control
 * plane is down tells the sender, half the time (ICMP is lossy and rate
 * limited). Rarely, a hint names a node that is up (a late ICMP from a
 * previous incarnation): the core must stay safe with wrong hints too.
 */
static void
sim_peer_gone_hint(const struct raft_msg *m, bool dp)
{
	struct sim_node *from = &S->node[m->from];
	struct raft_effects fx = {0};
	bool gone;

	if (dp || !from->ctl_up || !S->link[m->from][m->to])
		return;
	gone = !S->node[m->to].ctl_up;
	if (!(gone ? sim_chance(500) : sim_chance(1)))
		return;
	sim_trace("hint %u: node %u gone%s", m->from, m->to,
		  gone ? "" : " (wrong)");
	raft_ctl_peer_gone(from->c, m->to, sim_clock(m->from), &fx);
	sim_check_node(m->from);
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
		sim_peer_gone_hint(m, dp);
		if ((dp ? n->dp_up : n->ctl_up) && S->link[m->from][m->to]) {
			sim_trace("deliver %s %u->%u log %u t%" PRIu64 " n%u",
				  sim_type_name[m->type], m->from, m->to,
				  m->log, m->term,
				  m->type == RAFT_MSG_APPEND ? m->u.append.n
							     : 0);
			if (dp) {
				prepl_recv(n->pp[m->log], m, sim_clock(m->to));
			} else {
				struct raft_effects fx = {0};

				raft_ctl_recv(n->c, m, sim_clock(m->to), &fx);
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
				prepl_chan(n->pp[p], &d, sim_clock(i));
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
			raft_ctl_report(n->c, &rep, sim_clock(i), &fx);
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

		/* Not a member (a joiner not added yet, a node removed):
		 * no leader to follow. */
		if (!S->node[i].ctl_up ||
		    !((ln->c->voters | ln->c->learners) & (1u << i)))
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
	unsigned i, p, batch, inflight, ring, bytes;

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
	/* Batches cut by their bytes (plog_config.bytes_max) in two seeds of
	 * three: to one entry, or to about three of the simulator's keys.
	 * From the seed, so no random number is drawn for it. */
	bytes = S->seed % 3 == 0   ? RAFT_WIRE_ENTRY_MAX_LEN
		: S->seed % 3 == 1 ? 2 * RAFT_WIRE_ENTRY_MAX_LEN
				   : 0;
	/* Snapshots in chunks (docs/raft.md, "Snapshots in chunks"): the
	 * fullest table here is under 1 KB, so with --chunks half the seeds
	 * cut them in 16 to 128-byte chunks, and the transfers of many
	 * chunks meet the same loss, duplication, reordering and crashes as
	 * everything. Without it no random number is drawn for it. */
	S->chunk_max = RAFT_SNAPSHOT_MAX;
	if (S->chunks && sim_below(2) != 0)
		S->chunk_max = 16u << sim_below(4);
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
					.bytes_max = bytes,
					.inflight_max = inflight,
					.snapshot_max = RAFT_SNAPSHOT_MAX,
					.chunk_max = S->chunk_max},
			};

			n->part[p].n = n;
			n->part[p].p = (uint16_t)p;
			n->pp[p] = prepl_create(&pc, &sim_prepl_ops,
						&n->part[p], 1);
			LATCH_ASSERT(n->pp[p] != NULL);
		}
		sim_tables_create(n);
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
	/* Drawn last, and only with skew, so --skew 0 replays a seed of a
	 * simulator without clock skew exactly. */
	for (i = 0; i < nodes && S->skew_ms > 0; i++)
		S->node[i].skew = sim_rand() % (2ull * S->skew_ms + 1);
}

static void
sim_teardown(void)
{
	unsigned i, l, p;

	for (i = 0; i < S->nodes; i++) {
		raft_ctl_destroy(S->node[i].c);
		for (p = 0; p < S->parts; p++)
			prepl_destroy(S->node[i].pp[p]);
		sim_tables_destroy(&S->node[i]);
	}
	for (p = 0; p < SIM_PARTS_MAX; p++) {
		size_t n = S->applied_hi[p] + 1;

		memset(&S->digest[(size_t)p * SIM_IDX_MAX], 0,
		       n * sizeof(uint64_t));
		memset(&S->shape[(size_t)p * SIM_IDX_MAX], 0,
		       n * sizeof(uint64_t));
		S->applied_hi[p] = 0;
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
	for (i = 0; i < nodes; i++)
		sim_trace("node %u clock: global + %" PRIu64 " ms", i,
			  S->node[i].skew);
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
				struct raft_ctl *lc = S->node[lead].c;

				if (!((lc->voters | lc->learners) & (1u << i)))
					raft_ctl_add_learner(
						lc, (uint8_t)i,
						sim_clock((unsigned)lead), &fx);
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
				raft_ctl_tick(n->c, sim_clock(i), &fx);
			if (n->dp_up)
				for (p = 0; p < parts; p++)
					prepl_tick(n->pp[p], sim_clock(i));
			sim_check_node(i);
			sim_expire_step(i);
		}
		for (i = 0; i < SIM_CLIENTS && !S->failed; i++)
			sim_client_step(&S->client[i]);
		if (S->now % SIM_INVARIANTS_MS == 0)
			sim_check_tables();
		if (S->healing && S->now >= SIM_CHAOS_MS + 200 && sim_is_live())
			break;
	}
	if (!S->failed && S->now > end)
		sim_fail("liveness: no leader serving every client within "
			 "%u ms of healing",
			 SIM_HEAL_MS);
	for (i = 0; i < nodes; i++) {
		const struct raft_ctl *c = S->node[i].c;

		sim_trace("node %u: %s term %" PRIu64 " leader %d voters %02x "
			  "learners %02x config %" PRIu64 " meta last %" PRIu64
			  " commit %" PRIu64 "%s",
			  i, sim_role_name[c->role], c->term,
			  c->leader == RAFT_NONE ? -1 : (int)c->leader,
			  c->voters, c->learners, c->config_index,
			  c->meta->last, c->meta->commit,
			  sim_is_amnesic(&S->node[i]) ? " amnesic" : "");
	}
	sim_check_tables();
	sim_trace("end: %" PRIu64 " ms, %" PRIu64 " messages, %" PRIu64
		  " elections, %" PRIu64 " crashes, %" PRIu64
		  " answers, %" PRIu64 " grants told, %" PRIu64
		  " snapshots (%" PRIu64 " chunked, chunks of %u)",
		  S->now, S->msgs_sent, S->elections, S->crashes,
		  S->commits_told, S->grants_told, S->snapshots,
		  S->snapshots_chunked, S->chunk_max);
	sim_teardown();
	return S->failed ? 1 : 0;
}

static void
sim_usage(void)
{
	fprintf(stderr,
		"usage: latch-sim --seed S [--nodes 3|5] "
		"[--partitions P] [--skew MS] [--chunks] [--trace]\n"
		"       latch-sim --seeds N [--start S] [--nodes 3|5] "
		"[--partitions P] [--skew MS] [--chunks]\n"
		"--skew MS: node clocks offset by 0 .. 2*MS ms "
		"(default %u; 0: one clock)\n"
		"--chunks: half the seeds send snapshots in 16..128-byte "
		"chunks\n",
		SIM_SKEW_MS);
}

int
main(int argc, char **argv)
{
	uint64_t seed = 0, seeds = 0, start = 1, s;
	unsigned nodes = 0, parts = 0, failures = 0, skew = SIM_SKEW_MS;
	bool one = false;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--trace") == 0 || strcmp(a, "--chunks") == 0) {
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
		} else if (strcmp(a, "--skew") == 0) {
			/* Bounded so clocks never near wrap-around. */
			skew = (unsigned)strtoul(v, NULL, 0);
			if (skew > 1000000) {
				sim_usage();
				return 2;
			}
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
	S->digest =
		calloc((size_t)SIM_PARTS_MAX * SIM_IDX_MAX, sizeof(uint64_t));
	S->shape =
		calloc((size_t)SIM_PARTS_MAX * SIM_IDX_MAX, sizeof(uint64_t));
	LATCH_ASSERT(S->pool && S->leader_of_term && S->seen && S->committed);
	LATCH_ASSERT(S->digest && S->shape);
	S->skew_ms = skew;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--trace") == 0)
			S->trace = true;
		if (strcmp(argv[i], "--chunks") == 0)
			S->chunks = true;
	}
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
			       " --nodes %u --partitions %u --skew %u "
			       "%s--trace\n",
			       s, S->why, s, S->nodes, S->parts, S->skew_ms,
			       S->chunks ? "--chunks " : "");
			failures++;
			if (failures >= 5) {
				s++; /* count the seed that failed */
				break;
			}
		}
	}
	printf("snapshot loads: %" PRIu64
	       ", of them in several chunks: %" PRIu64 "\n",
	       S->snapshots, S->snapshots_chunked);
	printf("%" PRIu64 " seeds from %" PRIu64 ": %u failed\n", s - start,
	       start, failures);
	return failures ? 1 : 0;
}
