/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The lock table of one partition: a pure state machine over log entries.
 * See lock_table.h for the contract and docs/design.md ("lock semantics")
 * for the rules implemented here.
 *
 * Records, all from pools sized at create time:
 * - lock (one per key with a holder or a waiter), at the slot the key index
 *   gives; it heads a list of holders and a FIFO queue of waiters;
 * - request: one ACQUIRE that is waiting or holding. A waiter is granted in
 *   place, so granting from the queue never needs memory and never fails;
 * - session: per client id, with the list of requests bound to it;
 * - dedup: a FIFO ring of the last dedup_max answers.
 * Small open-addressing maps find requests by (client, request id), holders
 * by token, sessions by client id and answers by (client, request id).
 *
 * Invariants (checked in lock_table_check_invariants(), the cheap ones
 * inline): a lock with a waiter has a holder (else its head would have
 * been granted); an exclusive lock has exactly one holder; the head waiter
 * is not compatible with the holders; tokens strictly increase per table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/crc32c.h"
#include "dataplane/lock_table.h"
#include "dataplane/timer_wheel.h"

#define LT_NONE UINT32_MAX

/* Pools are indexed by 31 bits: the top bit of a timer tag is its kind. */
#define LT_POOL_MAX    (1u << 30)
#define LT_TAG_SESSION (1u << 31)

/*
 * An EXPIRE entry handed out by lock_table_tick() that is never applied
 * (a proposal lost in a leader change) is proposed again after this long.
 * A commit takes far less on a rack network; a duplicate is harmless
 * because every EXPIRE is re-checked when applied.
 */
#define LT_EXPIRE_RETRY_MS 1000

enum lt_req_state {
	LT_REQ_FREE = 0,
	LT_REQ_WAITING = 1,
	LT_REQ_HOLDING = 2,
};

struct lt_req {
	struct timer_node timer; /* wait end or lease end */
	uint64_t client_id;
	uint64_t request_id; /* of the ACQUIRE */
	uint64_t token;      /* HOLDING */
	uint64_t deadline_ms;
	uint32_t lock;
	uint32_t prev, next; /* holder list or queue; next links free list */
	uint32_t session;    /* LT_NONE if not bound */
	uint32_t sess_prev, sess_next;
	uint32_t lease_ms; /* granted, or to grant when waiting */
	uint32_t wait_ms;  /* WAITING, for takeover */
	/*
	 * Map hashes kept so removal never recomputes them: of (client,
	 * request) in req_map, and of (token, 0) in token_map (HOLDING).
	 */
	uint32_t req_hash;
	uint32_t token_hash;
	uint16_t flags; /* LATCH_F_SHARED | LATCH_F_SESSION */
	uint8_t state;  /* enum lt_req_state */
	struct lock_addr addr;
};

struct lt_lock {
	struct lock_key key;
	bool in_use;
	bool shared;  /* mode of the holders, when there are any */
	bool pending; /* on the settle list */
	uint32_t holders, hold_head, hold_tail;
	uint32_t waiters, wait_head, wait_tail;
	uint32_t pending_next;
};

struct lt_session {
	struct timer_node timer;
	uint64_t client_id;
	uint64_t deadline_ms;
	uint32_t timeout_ms;
	uint32_t grants;     /* bound holders */
	uint32_t bound_head; /* bound requests, holding or waiting */
	uint32_t next_free;
	bool in_use;
};

/* One remembered answer (also the answer being built). */
struct lt_answer {
	uint64_t client_id;
	uint64_t request_id;
	uint64_t token;
	uint32_t count;
	uint32_t lease_ms;
	uint32_t wait_ms;
	uint32_t hash; /* of (client, request) in dedup_map: eviction */
	uint16_t status;
	uint16_t flags;
	uint8_t op;
};

/*
 * A map to a record index: open addressing, linear probing, backward-shift
 * deletion. A bucket holds only the key's 32-bit hash and the index (8
 * bytes, so a probe touches one cache line); the key itself is compared in
 * the record, and a record is removed by its index.
 */
struct lt_map_bucket {
	uint32_t hash;
	uint32_t val; /* LT_NONE when empty */
};

/* Which records a map points into, and so how keys are compared. */
enum lt_map_kind {
	LT_MAP_REQ,     /* (client, request) -> lt_req */
	LT_MAP_TOKEN,   /* (token, 0) -> holding lt_req */
	LT_MAP_SESSION, /* (client, 0) -> lt_session */
	LT_MAP_DEDUP,   /* (client, request) -> lt_answer */
};

struct lt_map {
	struct lt_map_bucket *buckets;
	uint32_t mask;
	uint32_t count;
	uint32_t max;
};

/*
 * A snapshot being loaded (see "snapshots" below): the record being
 * gathered, what the header promised and what is left of it.
 */
struct lt_load {
	bool active; /* between load_begin and a successful load_end */
	int err;     /* sticky: the error that ended the load, or 0 */
	uint8_t phase;
	bool holding; /* the next request record is a holder */
	uint16_t need, have;
	uint8_t stage[LOCK_SNAPSHOT_RECORD_MAX];
	uint32_t sum;
	uint32_t locks_left, holders_left, waiters_left;
	uint32_t sessions_left, dedup_left;
	uint32_t slot; /* lock being loaded */
	uint32_t lock_holders_left, lock_waiters_left;
	uint64_t last_token; /* of the lock's previous holder */
	uint32_t sess;       /* session being loaded */
	uint32_t sess_tail;  /* last request bound to it */
	uint32_t bound_left;
	uint32_t sess_reqs;  /* requests with LATCH_F_SESSION loaded */
	uint32_t sess_bound; /* ... and bound to their session so far */
};

struct lock_table {
	struct lock_table_config cfg;
	struct lock_index_ops index;
	void *index_ctx;

	struct lt_lock *locks;
	uint32_t locks_used;
	uint32_t pending_head;

	struct lt_req *reqs;
	uint32_t reqs_max;
	uint32_t req_free;
	uint32_t holders_used;
	uint32_t waiters_used;

	struct lt_session *sessions;
	uint32_t session_free;
	uint32_t sessions_used;

	struct lt_answer *dedup;
	uint32_t dedup_head;
	uint32_t dedup_count;

	struct lt_map req_map;     /* (client, request) -> request */
	struct lt_map token_map;   /* (token, 0) -> holding request */
	struct lt_map session_map; /* (client, 0) -> session */
	struct lt_map dedup_map;   /* (client, request) -> dedup ring index */

	struct timer_wheel *wheel;
	uint64_t token_last;
	struct lock_table_counters counters;

	/*
	 * Bumped by every change of replicated state outside a load, so a
	 * save in chunks can assert that nothing changed under it.
	 */
	uint64_t generation;
	struct lt_load load; /* a snapshot being loaded */
};

/* ---- small helpers ---- */

static inline uint32_t
lt_min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline bool
lt_key_equal(const struct lock_key *a, const struct lock_key *b)
{
	return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

int
lock_key_set(struct lock_key *key, const void *bytes, uint16_t len)
{
	if (len == 0 || len > LATCH_KEY_MAX)
		return -EINVAL;
	memset(key, 0, sizeof(*key));
	key->len = len;
	memcpy(key->bytes, bytes, len);
	return 0;
}

/* ---- the maps ---- */

static inline uint32_t
lt_hash_mix(uint64_t a, uint64_t b)
{
	/* Two odd multipliers then MurmurHash3's fmix64. */
	uint64_t h = a * 0x9e3779b97f4a7c15ull + b * 0xc2b2ae3d27d4eb4full;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

/*
 * Map hash of (a, b) where b counts up: a client's request ids (liblatch
 * and latch-bench number them in order) and the partition's tokens (a
 * = 0). Four consecutive values of b take four neighbouring buckets, half
 * a 64-byte line (lt_map_init aligns the array), placed by a hash of
 * (a, b / 4). A stream of requests then adds to the dedup window, the
 * request map and the token map, and the window's evictions (oldest
 * first) delete from it, a half line at a time instead of a cold line
 * per answer in each map. Eight to a line was slower: a deletion's
 * backward shift scans the rest of a full run, and the longer runs cost
 * more than the misses saved (alternating builds, one worker, latch-bench
 * 64 in flight: scattered 4.04, 4.02, 4.04 M answers/s; eight 3.95,
 * 3.84, 3.89 M; four 4.10, 4.11, 4.08 M against 3.99, 4.00, 4.01 M; two
 * as scattered). Values that do not count up land as scattered as
 * before.
 */
static inline uint32_t
lt_seq_hash(uint64_t a, uint64_t b)
{
	return (lt_hash_mix(a, b >> 2) & ~3u) | (uint32_t)(b & 3);
}

/* (client, request): the dedup window and the request map. */
static inline uint32_t
lt_req_hash(uint64_t client_id, uint64_t request_id)
{
	return lt_seq_hash(client_id, request_id);
}

/* A holder's token: the token map. */
static inline uint32_t
lt_token_hash(uint64_t token)
{
	return lt_seq_hash(0, token);
}

/* A client's session: the session map, one entry per client. */
static inline uint32_t
lt_session_hash(uint64_t client_id)
{
	return lt_hash_mix(client_id, 0);
}

/* The hash a map of @kind files key (a, b) under. */
static inline uint32_t
lt_map_hash(enum lt_map_kind kind, uint64_t a, uint64_t b)
{
	switch (kind) {
	case LT_MAP_TOKEN:
		return lt_token_hash(a);
	case LT_MAP_SESSION:
		return lt_session_hash(a);
	case LT_MAP_REQ:
	case LT_MAP_DEDUP:
		break;
	}
	return lt_req_hash(a, b);
}

/*
 * Buckets per entry of a map. Two keeps a map at most half full, so
 * probes stay short and always end. The dedup window is always full once
 * warm and every answer both adds to it and evicts from it, so it gets
 * four: a quarter full, its inserts and backward shifts scan 1.4 buckets
 * instead of 2.5 on average (Knuth 6.4, linear probing), for 8 more bytes
 * per remembered answer.
 */
#define LT_MAP_SPREAD       2u
#define LT_MAP_SPREAD_DEDUP 4u

static int
lt_map_init(struct lt_map *m, uint32_t max, uint32_t spread)
{
	/* 64-byte aligned, whole lines (aligned_alloc wants a multiple):
	 * a group of four of lt_seq_hash() never straddles two lines. */
	uint64_t n = 8;
	uint64_t i;

	while (n < (uint64_t)spread * max)
		n <<= 1;
	m->buckets = aligned_alloc(64, n * sizeof(*m->buckets));
	if (m->buckets == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		m->buckets[i].hash = 0;
		m->buckets[i].val = LT_NONE;
	}
	m->mask = (uint32_t)(n - 1);
	m->count = 0;
	m->max = max;
	return 0;
}

static void
lt_map_fini(struct lt_map *m)
{
	free(m->buckets);
	m->buckets = NULL;
}

/* Does record @val of @kind have the key (a, b)? */
static inline bool
lt_map_match(const struct lock_table *lt, enum lt_map_kind kind, uint32_t val,
	     uint64_t a, uint64_t b)
{
	switch (kind) {
	case LT_MAP_REQ:
		return lt->reqs[val].client_id == a &&
		       lt->reqs[val].request_id == b;
	case LT_MAP_TOKEN:
		return lt->reqs[val].state == LT_REQ_HOLDING &&
		       lt->reqs[val].token == a;
	case LT_MAP_SESSION:
		return lt->sessions[val].client_id == a;
	case LT_MAP_DEDUP:
		return lt->dedup[val].client_id == a &&
		       lt->dedup[val].request_id == b;
	}
	return false;
}

/*
 * Index of the record with key (a, b), whose lt_map_hash() is @h, or
 * LT_NONE. Callers compute @h once per entry and reuse it for every map
 * keyed alike (the dedup window and the requests share (client, request)).
 */
static inline uint32_t
lt_map_find_h(const struct lock_table *lt, const struct lt_map *m,
	      enum lt_map_kind kind, uint32_t h, uint64_t a, uint64_t b)
{
	uint32_t pos = h & m->mask;

	/* Bounded: the array is never more than half full. */
	for (;;) {
		const struct lt_map_bucket *k = &m->buckets[pos];

		if (k->val == LT_NONE)
			return LT_NONE;
		if (k->hash == h && lt_map_match(lt, kind, k->val, a, b))
			return k->val;
		pos = (pos + 1) & m->mask;
	}
}

/* As lt_map_find_h(), hashing (a, b) here: for the rarer paths. */
static inline uint32_t
lt_map_find(const struct lock_table *lt, const struct lt_map *m,
	    enum lt_map_kind kind, uint64_t a, uint64_t b)
{
	return lt_map_find_h(lt, m, kind, lt_map_hash(kind, a, b), a, b);
}

/* Add record @val, whose key hashes to @h and is absent. */
static inline void
lt_map_put(struct lt_map *m, uint32_t h, uint32_t val)
{
	uint32_t pos = h & m->mask;

	LATCH_ASSERT(val != LT_NONE);
	/* The pools bound the count, so it always fits. */
	LATCH_ASSERT(m->count < m->max);
	while (m->buckets[pos].val != LT_NONE)
		pos = (pos + 1) & m->mask;
	m->buckets[pos].hash = h;
	m->buckets[pos].val = val;
	m->count++;
}

/*
 * Remove record @val, whose key hashes to @h; false if absent. The run
 * after the hole is shifted back so every key stays reachable from its
 * home bucket (Knuth 6.4, Algorithm R).
 */
static inline bool
lt_map_del(struct lt_map *m, uint32_t h, uint32_t val)
{
	uint32_t hole = h & m->mask;
	uint32_t pos;

	for (;;) {
		const struct lt_map_bucket *k = &m->buckets[hole];

		if (k->val == LT_NONE)
			return false;
		if (k->val == val)
			break;
		hole = (hole + 1) & m->mask;
	}
	pos = (hole + 1) & m->mask;
	for (;;) {
		struct lt_map_bucket *k = &m->buckets[pos];
		uint32_t home;

		if (k->val == LT_NONE)
			break;
		home = k->hash & m->mask;
		if (((pos - home) & m->mask) >= ((pos - hole) & m->mask)) {
			m->buckets[hole] = *k;
			hole = pos;
		}
		pos = (pos + 1) & m->mask;
	}
	m->buckets[hole].val = LT_NONE;
	m->count--;
	return true;
}

/* ---- configuration, create, destroy ---- */

int
lock_table_config_check(const struct lock_table_config *cfg, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	*why = NULL;
	if (cfg->locks_max == 0 || cfg->locks_max > LT_POOL_MAX)
		*why = "locks_max must be between 1 and 2^30";
	else if (cfg->holders_max == 0 || cfg->holders_max > LT_POOL_MAX / 2)
		*why = "holders_max must be between 1 and 2^29";
	else if (cfg->waiters_max > LT_POOL_MAX / 2)
		*why = "waiters_max must be at most 2^29";
	else if (cfg->sessions_max > LT_POOL_MAX)
		*why = "sessions_max must be at most 2^30";
	else if (cfg->dedup_max > LT_POOL_MAX)
		*why = "dedup_max must be at most 2^30";
	else if (cfg->lease_default_ms == 0 ||
		 cfg->lease_default_ms > cfg->lease_max_ms)
		*why = "lease_default_ms must be between 1 and lease_max_ms";
	else if (cfg->wait_default_ms == 0 ||
		 cfg->wait_default_ms > cfg->wait_max_ms)
		*why = "wait_default_ms must be between 1 and wait_max_ms";
	else if (cfg->session_default_ms == 0 ||
		 cfg->session_default_ms > cfg->session_max_ms)
		*why = "session_default_ms must be between 1 and "
		       "session_max_ms";
	else if (cfg->timer_slots < 2 || cfg->timer_slots > (1u << 24) ||
		 (cfg->timer_slots & (cfg->timer_slots - 1)) != 0)
		*why = "timer_slots must be a power of two between 2 and 2^24";
	return *why == NULL ? 0 : -EINVAL;
}

struct lock_table *
lock_table_create(const struct lock_table_config *cfg,
		  const struct lock_index_ops *index, void *index_ctx)
{
	struct lock_table *lt;
	uint32_t i;
	int err = ENOMEM;

	if (cfg == NULL || index == NULL || index->lookup == NULL ||
	    index->add == NULL || index->del == NULL ||
	    lock_table_config_check(cfg, NULL) != 0) {
		errno = EINVAL;
		return NULL;
	}
	lt = calloc(1, sizeof(*lt));
	if (lt == NULL)
		goto fail;
	lt->cfg = *cfg;
	lt->index = *index;
	lt->index_ctx = index_ctx;
	lt->pending_head = LT_NONE;

	lt->locks = calloc(cfg->locks_max, sizeof(*lt->locks));
	if (lt->locks == NULL)
		goto free_lt;

	/* A waiter is granted in place, so the pool holds both kinds. */
	lt->reqs_max = cfg->holders_max + cfg->waiters_max;
	lt->reqs = calloc(lt->reqs_max, sizeof(*lt->reqs));
	if (lt->reqs == NULL)
		goto free_locks;
	for (i = 0; i < lt->reqs_max; i++) {
		timer_node_init(&lt->reqs[i].timer, i);
		lt->reqs[i].next = i + 1 < lt->reqs_max ? i + 1 : LT_NONE;
	}
	lt->req_free = 0;

	lt->sessions = calloc(cfg->sessions_max ? cfg->sessions_max : 1,
			      sizeof(*lt->sessions));
	if (lt->sessions == NULL)
		goto free_reqs;
	for (i = 0; i < cfg->sessions_max; i++) {
		timer_node_init(&lt->sessions[i].timer, LT_TAG_SESSION | i);
		lt->sessions[i].next_free =
			i + 1 < cfg->sessions_max ? i + 1 : LT_NONE;
	}
	lt->session_free = cfg->sessions_max ? 0 : LT_NONE;

	lt->dedup =
		calloc(cfg->dedup_max ? cfg->dedup_max : 1, sizeof(*lt->dedup));
	if (lt->dedup == NULL)
		goto free_sessions;

	if (lt_map_init(&lt->req_map, lt->reqs_max, LT_MAP_SPREAD) != 0)
		goto free_dedup;
	if (lt_map_init(&lt->token_map, lt->reqs_max, LT_MAP_SPREAD) != 0)
		goto fini_req_map;
	if (lt_map_init(&lt->session_map, cfg->sessions_max, LT_MAP_SPREAD) !=
	    0)
		goto fini_token_map;
	if (lt_map_init(&lt->dedup_map, cfg->dedup_max, LT_MAP_SPREAD_DEDUP) !=
	    0)
		goto fini_session_map;

	lt->wheel = timer_wheel_create(cfg->timer_slots);
	if (lt->wheel == NULL)
		goto fini_dedup_map;
	return lt;

fini_dedup_map:
	lt_map_fini(&lt->dedup_map);
fini_session_map:
	lt_map_fini(&lt->session_map);
fini_token_map:
	lt_map_fini(&lt->token_map);
fini_req_map:
	lt_map_fini(&lt->req_map);
free_dedup:
	free(lt->dedup);
free_sessions:
	free(lt->sessions);
free_reqs:
	free(lt->reqs);
free_locks:
	free(lt->locks);
free_lt:
	free(lt);
fail:
	errno = err;
	return NULL;
}

void
lock_table_destroy(struct lock_table *lt)
{
	if (lt == NULL)
		return;
	timer_wheel_destroy(lt->wheel);
	lt_map_fini(&lt->dedup_map);
	lt_map_fini(&lt->session_map);
	lt_map_fini(&lt->token_map);
	lt_map_fini(&lt->req_map);
	free(lt->dedup);
	free(lt->sessions);
	free(lt->reqs);
	free(lt->locks);
	free(lt);
}

/* ---- tokens, leases ---- */

/*
 * Next fencing token: above every token given so far and at least the
 * term's base, so tokens also grow across restarts and failovers
 * (docs/design.md, "fencing tokens").
 */
static uint64_t
lt_token_next(struct lock_table *lt, uint64_t term)
{
	uint64_t base = term << LOCK_TOKEN_TERM_SHIFT;
	uint64_t t = lt->token_last + 1;

	if (t < base)
		t = base;
	LATCH_ASSERT(t > lt->token_last);
	lt->token_last = t;
	return t;
}

static uint32_t
lt_lease_ms(const struct lock_table *lt, uint32_t asked)
{
	return lt_min_u32(asked ? asked : lt->cfg.lease_default_ms,
			  lt->cfg.lease_max_ms);
}

static uint32_t
lt_wait_ms(const struct lock_table *lt, uint32_t asked)
{
	return lt_min_u32(asked ? asked : lt->cfg.wait_default_ms,
			  lt->cfg.wait_max_ms);
}

static uint32_t
lt_session_ms(const struct lock_table *lt, uint32_t asked)
{
	return lt_min_u32(asked ? asked : lt->cfg.session_default_ms,
			  lt->cfg.session_max_ms);
}

/* ---- dedup window ---- */

/* Answer remembered for (client, request), whose hash is @h, or NULL. */
static struct lt_answer *
lt_dedup_find(struct lock_table *lt, uint32_t h, uint64_t client_id,
	      uint64_t request_id)
{
	uint32_t i;

	if (lt->cfg.dedup_max == 0)
		return NULL;
	i = lt_map_find_h(lt, &lt->dedup_map, LT_MAP_DEDUP, h, client_id,
			  request_id);
	return i == LT_NONE ? NULL : &lt->dedup[i];
}

/* Remember @ans, forgetting the oldest answer when the window is full. */
static void
lt_dedup_put(struct lock_table *lt, const struct lt_answer *ans)
{
	uint32_t max = lt->cfg.dedup_max;
	uint32_t i;

	if (max == 0)
		return;
	if (lt->dedup_count == max) {
		struct lt_answer *old = &lt->dedup[lt->dedup_head];
		bool had =
			lt_map_del(&lt->dedup_map, old->hash, lt->dedup_head);

		LATCH_ASSERT(had);
		lt->dedup_head =
			lt->dedup_head + 1 == max ? 0 : lt->dedup_head + 1;
		lt->dedup_count--;
	}
	i = lt->dedup_head + lt->dedup_count;
	if (i >= max)
		i -= max;
	lt->dedup[i] = *ans;
	lt_map_put(&lt->dedup_map, ans->hash, i);
	lt->dedup_count++;
}

/*
 * A queued wait ended: a retry of its ACQUIRE from now on gets the final
 * answer (granted with its token, or why not) instead of QUEUED.
 */
static void
lt_dedup_wait_ended(struct lock_table *lt, const struct lt_req *r,
		    uint16_t status)
{
	struct lt_answer *a =
		lt_dedup_find(lt, r->req_hash, r->client_id, r->request_id);

	if (a == NULL || a->op != LATCH_OP_ACQUIRE ||
	    a->status != LATCH_S_QUEUED)
		return;
	a->status = status;
	a->count = 0;
	a->token = status == LATCH_S_OK ? r->token : 0;
	a->lease_ms = status == LATCH_S_OK ? r->lease_ms : 0;
}

/* ---- effects ---- */

static void
lt_emit_reply(const struct lt_answer *ans, const struct lock_entry *e,
	      lock_effect_fn emit, void *ctx)
{
	struct lock_effect fx = {
		.kind = LOCK_FX_REPLY,
		.op = ans->op,
		.status = ans->status,
		.flags = ans->flags,
		.count = ans->count,
		.lease_ms = ans->lease_ms,
		.wait_ms = ans->wait_ms,
		.client_id = e->client_id,
		.request_id = e->request_id,
		.token = ans->token,
		.key = ans->op == LATCH_OP_KEEPALIVE ? NULL : &e->key,
		.addr = &e->addr,
	};

	emit(ctx, &fx);
}

/* Answer the request of @e: remember the answer, then send it. */
static void
lt_answer(struct lock_table *lt, const struct lt_answer *ans,
	  const struct lock_entry *e, lock_effect_fn emit, void *ctx)
{
	lt_dedup_put(lt, ans);
	lt_emit_reply(ans, e, emit, ctx);
}

/* @eh is lt_req_hash(e->client_id, e->request_id). */
static struct lt_answer
lt_answer_init(const struct lock_entry *e, uint32_t eh, uint8_t op,
	       uint16_t status)
{
	struct lt_answer a = {
		.client_id = e->client_id,
		.request_id = e->request_id,
		.hash = eh,
		.op = op,
		.status = status,
	};

	return a;
}

/* Notify the owner of @r (GRANTED or LOST, with @status). */
static void
lt_emit_notice(const struct lock_table *lt, const struct lt_req *r,
	       uint8_t kind, uint16_t status, lock_effect_fn emit, void *ctx)
{
	bool ok = status == LATCH_S_OK;
	struct lock_effect fx = {
		.kind = kind,
		.op = kind == LOCK_FX_LOST ? LATCH_OP_LOST : LATCH_OP_GRANTED,
		.status = status,
		.flags = r->flags & LATCH_F_SHARED,
		.lease_ms = kind == LOCK_FX_LOST || ok ? r->lease_ms : 0,
		.client_id = r->client_id,
		.request_id = r->request_id,
		.token = kind == LOCK_FX_LOST || ok ? r->token : 0,
		.key = &lt->locks[r->lock].key,
		.addr = &r->addr,
	};

	emit(ctx, &fx);
}

/* ---- pools ---- */

static uint32_t
lt_req_alloc(struct lock_table *lt)
{
	uint32_t i = lt->req_free;

	if (i == LT_NONE)
		return LT_NONE;
	LATCH_ASSERT(lt->reqs[i].state == LT_REQ_FREE);
	lt->req_free = lt->reqs[i].next;
	return i;
}

static void
lt_req_free(struct lock_table *lt, uint32_t i)
{
	struct lt_req *r = &lt->reqs[i];

	LATCH_ASSERT(!timer_node_is_armed(&r->timer));
	r->state = LT_REQ_FREE;
	r->session = LT_NONE;
	r->next = lt->req_free;
	lt->req_free = i;
}

/* Slot of the lock of @key, or LT_NONE. */
static uint32_t
lt_lock_find(const struct lock_table *lt, const struct lock_key *key)
{
	int32_t slot = lt->index.lookup(lt->index_ctx, key);

	if (slot < 0)
		return LT_NONE;
	LATCH_ASSERT((uint32_t)slot < lt->cfg.locks_max);
	LATCH_ASSERT(lt->locks[slot].in_use);
	return (uint32_t)slot;
}

/* Start the lock of @key at @slot, which the index just gave it. */
static void
lt_lock_init(struct lock_table *lt, uint32_t slot, const struct lock_key *key)
{
	struct lt_lock *lk = &lt->locks[slot];

	LATCH_ASSERT(!lk->in_use);
	lk->key = *key;
	lk->in_use = true;
	lk->shared = false;
	lk->pending = false;
	lk->holders = lk->waiters = 0;
	lk->hold_head = lk->hold_tail = LT_NONE;
	lk->wait_head = lk->wait_tail = LT_NONE;
	lk->pending_next = LT_NONE;
	lt->locks_used++;
}

/*
 * Slot of the lock of @key through one index add: the lock there if @key
 * has one, else a new lock. Only when a new lock could be granted at once
 * (the caller checked the request and holder pools): then asking the index
 * to add instead of lookup-then-add saves a probe, and the outcome is the
 * one lookup-then-add gives. LT_NONE if the index is full; *@is_new says
 * whether the lock was made here.
 */
static uint32_t
lt_lock_find_or_add(struct lock_table *lt, const struct lock_key *key,
		    bool *is_new)
{
	int32_t slot;

	*is_new = false;
	LATCH_ASSERT(lt->locks_used < lt->cfg.locks_max);
	slot = lt->index.add(lt->index_ctx, key);
	if (slot < 0)
		return LT_NONE;
	if ((uint32_t)slot >= lt->cfg.locks_max) {
		/* An index sized above locks_max: treat its excess as full. */
		lt->index.del(lt->index_ctx, key);
		return LT_NONE;
	}
	/* The index holds exactly the keys of in-use locks. */
	if (lt->locks[slot].in_use)
		return (uint32_t)slot;
	lt_lock_init(lt, (uint32_t)slot, key);
	*is_new = true;
	return (uint32_t)slot;
}

/* Make a lock for @key (absent); LT_NONE if the pool or index is full. */
static uint32_t
lt_lock_add(struct lock_table *lt, const struct lock_key *key)
{
	int32_t slot;

	if (lt->locks_used >= lt->cfg.locks_max)
		return LT_NONE;
	slot = lt->index.add(lt->index_ctx, key);
	if (slot < 0)
		return LT_NONE;
	if ((uint32_t)slot >= lt->cfg.locks_max) {
		/* An index sized above locks_max: treat its excess as full. */
		lt->index.del(lt->index_ctx, key);
		return LT_NONE;
	}
	lt_lock_init(lt, (uint32_t)slot, key);
	return (uint32_t)slot;
}

/* Queue @slot for lt_settle(): its holders or waiters changed. */
static void
lt_lock_touch(struct lock_table *lt, uint32_t slot)
{
	struct lt_lock *lk = &lt->locks[slot];

	if (lk->pending)
		return;
	lk->pending = true;
	lk->pending_next = lt->pending_head;
	lt->pending_head = slot;
}

/* Doubly linked lists of requests threaded through prev/next. */
static void
lt_list_append(struct lock_table *lt, uint32_t *head, uint32_t *tail,
	       uint32_t i)
{
	struct lt_req *r = &lt->reqs[i];

	r->prev = *tail;
	r->next = LT_NONE;
	if (*tail == LT_NONE)
		*head = i;
	else
		lt->reqs[*tail].next = i;
	*tail = i;
}

static void
lt_list_remove(struct lock_table *lt, uint32_t *head, uint32_t *tail,
	       uint32_t i)
{
	struct lt_req *r = &lt->reqs[i];

	if (r->prev == LT_NONE)
		*head = r->next;
	else
		lt->reqs[r->prev].next = r->next;
	if (r->next == LT_NONE)
		*tail = r->prev;
	else
		lt->reqs[r->next].prev = r->prev;
	r->prev = r->next = LT_NONE;
}

/* ---- sessions ---- */

static uint32_t
lt_session_find(const struct lock_table *lt, uint64_t client_id)
{
	if (lt->cfg.sessions_max == 0)
		return LT_NONE;
	return lt_map_find(lt, &lt->session_map, LT_MAP_SESSION, client_id, 0);
}

static void
lt_session_bind(struct lock_table *lt, uint32_t s, uint32_t i)
{
	struct lt_session *ss = &lt->sessions[s];
	struct lt_req *r = &lt->reqs[i];

	r->session = s;
	r->sess_prev = LT_NONE;
	r->sess_next = ss->bound_head;
	if (ss->bound_head != LT_NONE)
		lt->reqs[ss->bound_head].sess_prev = i;
	ss->bound_head = i;
}

static void
lt_session_unbind(struct lock_table *lt, uint32_t i)
{
	struct lt_req *r = &lt->reqs[i];
	struct lt_session *ss;

	if (r->session == LT_NONE)
		return;
	ss = &lt->sessions[r->session];
	if (r->sess_prev == LT_NONE)
		ss->bound_head = r->sess_next;
	else
		lt->reqs[r->sess_prev].sess_next = r->sess_next;
	if (r->sess_next != LT_NONE)
		lt->reqs[r->sess_next].sess_prev = r->sess_prev;
	if (r->state == LT_REQ_HOLDING) {
		LATCH_ASSERT(ss->grants > 0);
		ss->grants--;
	}
	r->session = LT_NONE;
	r->sess_prev = r->sess_next = LT_NONE;
}

/* ---- holding and waiting ---- */

/*
 * Make request @i a holder of its lock from @e->now_ms: new token, lease
 * timer, indexes. The caller checked compatibility.
 */
static void
lt_hold(struct lock_table *lt, uint32_t i, const struct lock_entry *e)
{
	struct lt_req *r = &lt->reqs[i];
	struct lt_lock *lk = &lt->locks[r->lock];
	bool shared = (r->flags & LATCH_F_SHARED) != 0;

	if (lk->holders == 0)
		lk->shared = shared;
	/* Exclusive means alone; shared only beside shared. */
	LATCH_ASSERT(lk->holders == 0 || (lk->shared && shared));
	r->state = LT_REQ_HOLDING;
	r->token = lt_token_next(lt, e->term);
	r->deadline_ms = e->now_ms + r->lease_ms;
	lt_list_append(lt, &lk->hold_head, &lk->hold_tail, i);
	lk->holders++;
	lt->holders_used++;
	r->token_hash = lt_token_hash(r->token);
	lt_map_put(&lt->token_map, r->token_hash, i);
	timer_wheel_arm(lt->wheel, &r->timer, r->deadline_ms);
	if (r->session != LT_NONE)
		lt->sessions[r->session].grants++;
	lt->counters.grants++;
	if (shared)
		lt->counters.grants_shared++;
}

/*
 * The part of removing request @i that holders and waiters share: out of
 * the request map, its session and the timer wheel; its lock touched (the
 * next waiter may now be compatible, or the lock free), the record freed.
 */
static void
lt_req_drop(struct lock_table *lt, uint32_t i)
{
	struct lt_req *r = &lt->reqs[i];
	bool had = lt_map_del(&lt->req_map, r->req_hash, i);

	LATCH_ASSERT(had);
	lt_session_unbind(lt, i);
	timer_wheel_cancel(lt->wheel, &r->timer);
	lt_lock_touch(lt, r->lock);
	lt_req_free(lt, i);
}

/* Remove holder @i (released, expired, session ended) and free it. */
static void
lt_unhold(struct lock_table *lt, uint32_t i)
{
	struct lt_req *r = &lt->reqs[i];
	struct lt_lock *lk = &lt->locks[r->lock];
	bool had;

	LATCH_ASSERT(r->state == LT_REQ_HOLDING);
	LATCH_ASSERT(lk->holders > 0);
	lt_list_remove(lt, &lk->hold_head, &lk->hold_tail, i);
	lk->holders--;
	lt->holders_used--;
	had = lt_map_del(&lt->token_map, r->token_hash, i);
	LATCH_ASSERT(had);
	lt_req_drop(lt, i);
}

/* Remove waiter @i (timed out, session ended) and free it. */
static void
lt_unwait(struct lock_table *lt, uint32_t i)
{
	struct lt_req *r = &lt->reqs[i];
	struct lt_lock *lk = &lt->locks[r->lock];

	LATCH_ASSERT(r->state == LT_REQ_WAITING);
	LATCH_ASSERT(lk->waiters > 0);
	lt_list_remove(lt, &lk->wait_head, &lk->wait_tail, i);
	lk->waiters--;
	lt->waiters_used--;
	lt_req_drop(lt, i);
}

/*
 * Grant from the head of @slot's queue while the head is compatible: an
 * exclusive head only when nobody holds, then alone; shared heads as a
 * batch while the holders are shared. Each grant gets its own token and a
 * lease from @e->now_ms.
 */
static void
lt_grant_waiters(struct lock_table *lt, uint32_t slot,
		 const struct lock_entry *e, lock_effect_fn emit, void *ctx)
{
	struct lt_lock *lk = &lt->locks[slot];

	/* Bounded by the queue length. */
	while (lk->waiters > 0) {
		uint32_t i = lk->wait_head;
		struct lt_req *r = &lt->reqs[i];
		bool shared = (r->flags & LATCH_F_SHARED) != 0;

		if (lk->holders > 0 && !(shared && lk->shared))
			break;
		lt_list_remove(lt, &lk->wait_head, &lk->wait_tail, i);
		lk->waiters--;
		lt->waiters_used--;
		lt_hold(lt, i, e);
		lt_dedup_wait_ended(lt, r, LATCH_S_OK);
		lt_emit_notice(lt, r, LOCK_FX_GRANTED, LATCH_S_OK, emit, ctx);
	}
}

/* Free @slot's lock if nobody holds or waits for it. */
static void
lt_lock_maybe_free(struct lock_table *lt, uint32_t slot)
{
	struct lt_lock *lk = &lt->locks[slot];
	int32_t got;

	if (lk->holders > 0 || lk->waiters > 0)
		return;
	got = lt->index.del(lt->index_ctx, &lk->key);
	LATCH_ASSERT(got == (int32_t)slot);
	lk->in_use = false;
	lt->locks_used--;
}

/* After an entry: grant what the changes allow, free empty locks. */
static void
lt_settle(struct lock_table *lt, const struct lock_entry *e,
	  lock_effect_fn emit, void *ctx)
{
	while (lt->pending_head != LT_NONE) {
		uint32_t slot = lt->pending_head;
		struct lt_lock *lk = &lt->locks[slot];

		lt->pending_head = lk->pending_next;
		lk->pending = false;
		lk->pending_next = LT_NONE;
		lt_grant_waiters(lt, slot, e, emit, ctx);
		/* A waiter implies a holder, or the head would be granted. */
		LATCH_ASSERT(lk->waiters == 0 || lk->holders > 0);
		LATCH_ASSERT(lk->shared || lk->holders <= 1);
		lt_lock_maybe_free(lt, slot);
	}
}

/* True if @client_id holds the lock at @slot (scans its holders). */
static bool
lt_lock_held_by(const struct lock_table *lt, uint32_t slot, uint64_t client_id)
{
	uint32_t i;

	for (i = lt->locks[slot].hold_head; i != LT_NONE; i = lt->reqs[i].next)
		if (lt->reqs[i].client_id == client_id)
			return true;
	return false;
}

/* Place of waiter @i in its queue, 1 = next. */
static uint32_t
lt_queue_place(const struct lock_table *lt, uint32_t i)
{
	uint32_t place = 1;
	uint32_t j;

	for (j = lt->locks[lt->reqs[i].lock].wait_head; j != i;
	     j = lt->reqs[j].next) {
		LATCH_ASSERT(j != LT_NONE);
		place++;
	}
	return place;
}

/* ---- requests ---- */

static void
lt_answer_busy_full(struct lock_table *lt, const struct lock_entry *e,
		    uint32_t eh, uint8_t op, lock_effect_fn emit, void *ctx)
{
	struct lt_answer ans = lt_answer_init(e, eh, op, LATCH_S_BUSY);

	lt->counters.busy_full++;
	lt_answer(lt, &ans, e, emit, ctx);
}

/*
 * ACQUIRE. Granted at once iff compatible with the holders and nobody
 * waits (a reader never overtakes a queued writer). Otherwise BUSY (try)
 * or queued FIFO (LATCH_F_WAIT).
 *
 * No re-entrancy: a client that holds the lock is never queued behind
 * itself (it would wait for its own release), so it gets BUSY whenever the
 * request cannot be granted at once; an exclusive re-acquire is therefore
 * always BUSY. A shared re-acquire by a shared holder, granted at once, is
 * a second grant with its own token.
 */
static void
lt_acquire(struct lock_table *lt, const struct lock_entry *e, uint32_t eh,
	   lock_effect_fn emit, void *ctx)
{
	struct lt_answer ans =
		lt_answer_init(e, eh, LATCH_OP_ACQUIRE, LATCH_S_OK);
	bool shared = (e->flags & LATCH_F_SHARED) != 0;
	uint32_t session = LT_NONE;
	uint32_t slot, i;
	struct lt_req *r;
	bool grantable, is_new = false;

	ans.flags = e->flags & LATCH_F_SHARED;
	/*
	 * A retry whose answer left the dedup window while its grant or wait
	 * lives on is still answered from that grant: never a second one.
	 * The request map is keyed like the dedup window: same hash.
	 */
	i = lt_map_find_h(lt, &lt->req_map, LT_MAP_REQ, eh, e->client_id,
			  e->request_id);
	if (i != LT_NONE) {
		r = &lt->reqs[i];
		lt->counters.dedup_hits++;
		ans.flags = r->flags & LATCH_F_SHARED;
		ans.lease_ms = r->lease_ms;
		if (r->state == LT_REQ_HOLDING) {
			ans.token = r->token;
		} else {
			ans.status = LATCH_S_QUEUED;
			ans.count = lt_queue_place(lt, i);
			ans.wait_ms = r->wait_ms;
		}
		lt_emit_reply(&ans, e, emit, ctx);
		return;
	}
	if (e->flags & LATCH_F_SESSION) {
		session = lt_session_find(lt, e->client_id);
		if (session == LT_NONE) {
			lt->counters.no_session++;
			ans.status = LATCH_S_NO_SESSION;
			lt_answer(lt, &ans, e, emit, ctx);
			return;
		}
	}

	/*
	 * The common case, a key nobody holds, in one index operation: when
	 * every pool has room for a new grant, add the key at once (a key
	 * already present just returns its lock). Otherwise look up first,
	 * exactly as before, so a full pool never touches the index.
	 */
	if (lt->req_free != LT_NONE && lt->holders_used < lt->cfg.holders_max &&
	    lt->locks_used < lt->cfg.locks_max) {
		slot = lt_lock_find_or_add(lt, &e->key, &is_new);
		if (slot == LT_NONE) {
			lt_answer_busy_full(lt, e, eh, LATCH_OP_ACQUIRE, emit,
					    ctx);
			return;
		}
	} else {
		slot = lt_lock_find(lt, &e->key);
	}
	if (slot == LT_NONE || is_new) {
		grantable = true;
	} else {
		struct lt_lock *lk = &lt->locks[slot];

		grantable = lk->waiters == 0 &&
			    (lk->holders == 0 || (lk->shared && shared));
	}
	if (!grantable && (!(e->flags & LATCH_F_WAIT) ||
			   lt_lock_held_by(lt, slot, e->client_id))) {
		lt->counters.busy++;
		ans.status = LATCH_S_BUSY;
		lt_answer(lt, &ans, e, emit, ctx);
		return;
	}
	/* Check every pool before changing anything. */
	if (lt->req_free == LT_NONE ||
	    (grantable ? lt->holders_used >= lt->cfg.holders_max
		       : lt->waiters_used >= lt->cfg.waiters_max)) {
		/* Never after a lock was made: its pools were checked. */
		LATCH_ASSERT(!is_new);
		lt_answer_busy_full(lt, e, eh, LATCH_OP_ACQUIRE, emit, ctx);
		return;
	}
	if (slot == LT_NONE) {
		slot = lt_lock_add(lt, &e->key);
		if (slot == LT_NONE) {
			lt_answer_busy_full(lt, e, eh, LATCH_OP_ACQUIRE, emit,
					    ctx);
			return;
		}
	}

	i = lt_req_alloc(lt);
	LATCH_ASSERT(i != LT_NONE);
	r = &lt->reqs[i];
	r->client_id = e->client_id;
	r->request_id = e->request_id;
	r->token = 0;
	r->lock = slot;
	r->prev = r->next = LT_NONE;
	r->session = LT_NONE;
	r->sess_prev = r->sess_next = LT_NONE;
	r->lease_ms = lt_lease_ms(lt, e->lease_ms);
	r->wait_ms = 0;
	r->flags = e->flags & (LATCH_F_SHARED | LATCH_F_SESSION);
	r->addr = e->addr;
	r->req_hash = eh;
	lt_map_put(&lt->req_map, eh, i);
	if (session != LT_NONE)
		lt_session_bind(lt, session, i);

	if (grantable) {
		lt_hold(lt, i, e);
		ans.token = r->token;
		ans.lease_ms = r->lease_ms;
	} else {
		struct lt_lock *lk = &lt->locks[slot];

		r->state = LT_REQ_WAITING;
		r->wait_ms = lt_wait_ms(lt, e->wait_ms);
		r->deadline_ms = e->now_ms + r->wait_ms;
		lt_list_append(lt, &lk->wait_head, &lk->wait_tail, i);
		lk->waiters++;
		lt->waiters_used++;
		timer_wheel_arm(lt->wheel, &r->timer, r->deadline_ms);
		lt->counters.queued++;
		ans.status = LATCH_S_QUEUED;
		ans.count = lk->waiters;
		ans.lease_ms = r->lease_ms;
		ans.wait_ms = r->wait_ms;
	}
	lt_answer(lt, &ans, e, emit, ctx);
}

/*
 * Find the holder of @e->key presenting @e->token. The token alone names
 * the holder: any client may release with it (an operator's latchctl
 * does). Returns LT_NONE and sets @status if there is none.
 *
 * The token is looked up first and the key compared with its lock's key,
 * which is the same test as looking the key up in the index (the index
 * holds exactly the keys of in-use locks) without hashing the key: the
 * index is asked only to tell NOT_HELD from STALE_TOKEN on failure.
 */
static uint32_t
lt_holder_by_token(const struct lock_table *lt, const struct lock_entry *e,
		   uint16_t *status)
{
	uint32_t i = lt_map_find_h(lt, &lt->token_map, LT_MAP_TOKEN,
				   lt_token_hash(e->token), e->token, 0);

	if (i != LT_NONE &&
	    lt_key_equal(&lt->locks[lt->reqs[i].lock].key, &e->key)) {
		LATCH_ASSERT(lt->reqs[i].state == LT_REQ_HOLDING);
		*status = LATCH_S_OK;
		return i;
	}
	*status = lt_lock_find(lt, &e->key) == LT_NONE ? LATCH_S_NOT_HELD
						       : LATCH_S_STALE_TOKEN;
	return LT_NONE;
}

/* RELEASE and RENEW share their checks; RENEW restarts the lease. */
static void
lt_release_renew(struct lock_table *lt, const struct lock_entry *e, uint32_t eh,
		 lock_effect_fn emit, void *ctx)
{
	bool renew = e->op == LOCK_E_RENEW;
	struct lt_answer ans = lt_answer_init(
		e, eh, renew ? LATCH_OP_RENEW : LATCH_OP_RELEASE, LATCH_S_OK);
	uint32_t i = lt_holder_by_token(lt, e, &ans.status);
	struct lt_req *r;

	if (i == LT_NONE) {
		if (ans.status == LATCH_S_NOT_HELD)
			lt->counters.not_held++;
		else
			lt->counters.stale_token++;
		lt_answer(lt, &ans, e, emit, ctx);
		return;
	}
	r = &lt->reqs[i];
	ans.token = r->token;
	ans.flags = r->flags & LATCH_F_SHARED;
	if (renew) {
		r->lease_ms = lt_lease_ms(lt, e->lease_ms);
		r->deadline_ms = e->now_ms + r->lease_ms;
		timer_wheel_arm(lt->wheel, &r->timer, r->deadline_ms);
		lt->counters.renews++;
		ans.lease_ms = r->lease_ms;
		lt_answer(lt, &ans, e, emit, ctx);
		return;
	}
	lt->counters.releases++;
	/* Answer first; grants to waiters follow in lt_settle(). */
	lt_answer(lt, &ans, e, emit, ctx);
	lt_unhold(lt, i);
}

/*
 * End session @s now: its grants are taken away (LOST), its waits end
 * (GRANTED with SESSION_ENDED); lt_settle() then grants the queues.
 */
static void
lt_session_end(struct lock_table *lt, uint32_t s, lock_effect_fn emit,
	       void *ctx)
{
	struct lt_session *ss = &lt->sessions[s];
	uint32_t i, next;
	bool had;

	for (i = ss->bound_head; i != LT_NONE; i = next) {
		next = lt->reqs[i].sess_next;
		if (lt->reqs[i].state != LT_REQ_HOLDING)
			continue;
		lt_emit_notice(lt, &lt->reqs[i], LOCK_FX_LOST,
			       LATCH_S_SESSION_ENDED, emit, ctx);
		lt_unhold(lt, i);
	}
	for (i = ss->bound_head; i != LT_NONE; i = next) {
		next = lt->reqs[i].sess_next;
		LATCH_ASSERT(lt->reqs[i].state == LT_REQ_WAITING);
		lt_dedup_wait_ended(lt, &lt->reqs[i], LATCH_S_SESSION_ENDED);
		lt_emit_notice(lt, &lt->reqs[i], LOCK_FX_GRANTED,
			       LATCH_S_SESSION_ENDED, emit, ctx);
		lt_unwait(lt, i);
	}
	LATCH_ASSERT(ss->bound_head == LT_NONE && ss->grants == 0);
	timer_wheel_cancel(lt->wheel, &ss->timer);
	had = lt_map_del(&lt->session_map, lt_session_hash(ss->client_id), s);
	LATCH_ASSERT(had);
	ss->in_use = false;
	ss->next_free = lt->session_free;
	lt->session_free = s;
	lt->sessions_used--;
}

/*
 * KEEPALIVE: open or refresh the client's session (answer: timeout granted
 * and grants bound), or with LATCH_F_CLOSE end it now.
 */
static void
lt_keepalive(struct lock_table *lt, const struct lock_entry *e, uint32_t eh,
	     lock_effect_fn emit, void *ctx)
{
	struct lt_answer ans =
		lt_answer_init(e, eh, LATCH_OP_KEEPALIVE, LATCH_S_OK);
	uint32_t s = lt_session_find(lt, e->client_id);
	struct lt_session *ss;

	if (e->flags & LATCH_F_CLOSE) {
		/* Closing what is not open is done already: OK. */
		if (s != LT_NONE)
			ans.count = lt->sessions[s].grants;
		lt_answer(lt, &ans, e, emit, ctx);
		if (s != LT_NONE) {
			lt->counters.sessions_closed++;
			lt_session_end(lt, s, emit, ctx);
		}
		return;
	}
	if (s == LT_NONE) {
		if (lt->session_free == LT_NONE) {
			lt_answer_busy_full(lt, e, eh, LATCH_OP_KEEPALIVE, emit,
					    ctx);
			return;
		}
		s = lt->session_free;
		ss = &lt->sessions[s];
		LATCH_ASSERT(!ss->in_use);
		lt->session_free = ss->next_free;
		ss->in_use = true;
		ss->client_id = e->client_id;
		ss->grants = 0;
		ss->bound_head = LT_NONE;
		lt_map_put(&lt->session_map, lt_session_hash(e->client_id), s);
		lt->sessions_used++;
		lt->counters.sessions_opened++;
	}
	ss = &lt->sessions[s];
	ss->timeout_ms = lt_session_ms(lt, e->lease_ms);
	ss->deadline_ms = e->now_ms + ss->timeout_ms;
	timer_wheel_arm(lt->wheel, &ss->timer, ss->deadline_ms);
	ans.lease_ms = ss->timeout_ms;
	ans.count = ss->grants;
	lt_answer(lt, &ans, e, emit, ctx);
}

/* ---- timer entries (re-checked: they may be late or duplicated) ---- */

static void
lt_expire_lease(struct lock_table *lt, const struct lock_entry *e,
		lock_effect_fn emit, void *ctx)
{
	uint16_t status;
	uint32_t i = lt_holder_by_token(lt, e, &status);

	if (i == LT_NONE || lt->reqs[i].deadline_ms > e->now_ms)
		return;
	lt->counters.lease_expired++;
	lt_emit_notice(lt, &lt->reqs[i], LOCK_FX_LOST, LATCH_S_EXPIRED, emit,
		       ctx);
	lt_unhold(lt, i);
}

static void
lt_expire_wait(struct lock_table *lt, const struct lock_entry *e,
	       lock_effect_fn emit, void *ctx)
{
	uint32_t i = lt_map_find(lt, &lt->req_map, LT_MAP_REQ, e->client_id,
				 e->request_id);
	struct lt_req *r;

	if (i == LT_NONE)
		return;
	r = &lt->reqs[i];
	if (r->state != LT_REQ_WAITING || r->deadline_ms > e->now_ms ||
	    !lt_key_equal(&lt->locks[r->lock].key, &e->key))
		return;
	lt->counters.wait_timeouts++;
	lt_dedup_wait_ended(lt, r, LATCH_S_TIMEOUT);
	lt_emit_notice(lt, r, LOCK_FX_GRANTED, LATCH_S_TIMEOUT, emit, ctx);
	lt_unwait(lt, i);
}

static void
lt_expire_session(struct lock_table *lt, const struct lock_entry *e,
		  lock_effect_fn emit, void *ctx)
{
	uint32_t s = lt_session_find(lt, e->client_id);

	if (s == LT_NONE || lt->sessions[s].deadline_ms > e->now_ms)
		return;
	lt->counters.sessions_expired++;
	lt_session_end(lt, s, emit, ctx);
}

/* A deadline @ms after @now_ms, never earlier than @deadline_ms. */
static inline uint64_t
lt_deadline_at_least(uint64_t deadline_ms, uint64_t now_ms, uint32_t ms)
{
	uint64_t d = now_ms + ms;

	return d > deadline_ms ? d : deadline_ms;
}

/*
 * TAKEOVER: a new leader counts every inherited lease as renewed at its
 * clock @e->now_ms, and every wait and session likewise (docs/design.md,
 * "leases across failover"): no deadline moves earlier, so nobody loses a
 * lease sooner than it was told. Every replica applies this entry at the
 * same index with the same now_ms, so all of them extend the same
 * deadlines to the same values: the deadlines stay replicated state, and
 * an EXPIRE entry applied later decides alike everywhere (it expires only
 * if its now_ms reached the extended deadline).
 *
 * Every holder, waiter and session has its timer armed, so the wheel
 * lists exactly the records to extend: the work is the live records and
 * the wheel's slots, not the pools. Scanning the pools (16 MB of requests
 * in the lab profile) took 1.5 ms on each replica, on the failover's
 * critical path twice: the new leader's apply, then its follower's.
 */
struct lt_takeover_ctx {
	struct lock_table *lt;
	uint64_t now_ms;
};

static void
lt_takeover_extend(void *arg, struct timer_node *node)
{
	struct lt_takeover_ctx *t = arg;
	struct lock_table *lt = t->lt;
	uint64_t *deadline;
	uint32_t ms;

	if (node->user & LT_TAG_SESSION) {
		struct lt_session *ss =
			&lt->sessions[node->user & ~LT_TAG_SESSION];

		LATCH_ASSERT(ss->in_use);
		deadline = &ss->deadline_ms;
		ms = ss->timeout_ms;
	} else {
		struct lt_req *r = &lt->reqs[node->user];

		LATCH_ASSERT(r->state != LT_REQ_FREE);
		deadline = &r->deadline_ms;
		ms = r->state == LT_REQ_HOLDING ? r->lease_ms : r->wait_ms;
	}
	*deadline = lt_deadline_at_least(*deadline, t->now_ms, ms);
	timer_wheel_arm(lt->wheel, node, *deadline);
}

static void
lt_takeover(struct lock_table *lt, const struct lock_entry *e)
{
	struct lt_takeover_ctx t = {.lt = lt, .now_ms = e->now_ms};

	timer_wheel_each(lt->wheel, lt_takeover_extend, &t);
}

/* ---- public entry points ---- */

void
lock_table_apply(struct lock_table *lt, const struct lock_entry *e,
		 lock_effect_fn emit, void *ctx)
{
	struct lt_answer *old;
	uint32_t eh = 0;

	LATCH_ASSERT(lt != NULL && e != NULL && emit != NULL);
	LATCH_ASSERT(lt->pending_head == LT_NONE);
	LATCH_DEBUG_ASSERT(!lt->load.active);
	lt->generation++;
	switch (e->op) {
	case LOCK_E_ACQUIRE:
	case LOCK_E_RELEASE:
	case LOCK_E_RENEW:
	case LOCK_E_KEEPALIVE:
		/* Hashed once: the dedup window and request map share it. */
		eh = lt_req_hash(e->client_id, e->request_id);
		old = lt_dedup_find(lt, eh, e->client_id, e->request_id);
		if (old != NULL) {
			/* A retry: the first answer, nothing changes. */
			lt->counters.dedup_hits++;
			lt_emit_reply(old, e, emit, ctx);
			return;
		}
		break;
	default:
		break;
	}
	switch (e->op) {
	case LOCK_E_ACQUIRE:
		lt_acquire(lt, e, eh, emit, ctx);
		break;
	case LOCK_E_RELEASE:
	case LOCK_E_RENEW:
		lt_release_renew(lt, e, eh, emit, ctx);
		break;
	case LOCK_E_KEEPALIVE:
		lt_keepalive(lt, e, eh, emit, ctx);
		break;
	case LOCK_E_EXPIRE_LEASE:
		lt_expire_lease(lt, e, emit, ctx);
		break;
	case LOCK_E_EXPIRE_WAIT:
		lt_expire_wait(lt, e, emit, ctx);
		break;
	case LOCK_E_EXPIRE_SESSION:
		lt_expire_session(lt, e, emit, ctx);
		break;
	case LOCK_E_TAKEOVER:
		lt_takeover(lt, e);
		break;
	default:
		/*
		 * The log layer validates ops before they are committed; an
		 * unknown one changes nothing here, on every replica alike.
		 */
		break;
	}
	lt_settle(lt, e, emit, ctx);
}

struct lt_tick {
	struct lock_table *lt;
	struct lock_entry *out;
	unsigned n;
	uint64_t now_ms;
};

/* Turn a due timer into its EXPIRE entry and arm the retry. */
static void
lt_tick_fire(void *arg, struct timer_node *node)
{
	struct lt_tick *t = arg;
	struct lock_table *lt = t->lt;
	struct lock_entry *e = &t->out[t->n++];

	memset(e, 0, sizeof(*e));
	e->now_ms = t->now_ms;
	if (node->user & LT_TAG_SESSION) {
		struct lt_session *ss =
			&lt->sessions[node->user & ~LT_TAG_SESSION];

		LATCH_ASSERT(ss->in_use);
		e->op = LOCK_E_EXPIRE_SESSION;
		e->client_id = ss->client_id;
	} else {
		struct lt_req *r = &lt->reqs[node->user];

		LATCH_ASSERT(r->state != LT_REQ_FREE);
		e->op = r->state == LT_REQ_HOLDING ? LOCK_E_EXPIRE_LEASE
						   : LOCK_E_EXPIRE_WAIT;
		e->client_id = r->client_id;
		e->request_id = r->request_id;
		e->token = r->state == LT_REQ_HOLDING ? r->token : 0;
		e->key = lt->locks[r->lock].key;
	}
	timer_wheel_arm(lt->wheel, node, t->now_ms + LT_EXPIRE_RETRY_MS);
}

unsigned
lock_table_tick(struct lock_table *lt, uint64_t now_ms, struct lock_entry *out,
		unsigned max)
{
	struct lt_tick t = {
		.lt = lt,
		.out = out,
		.n = 0,
		.now_ms = now_ms,
	};

	if (max == 0)
		return 0;
	timer_wheel_advance(lt->wheel, now_ms, max, lt_tick_fire, &t);
	LATCH_ASSERT(t.n <= max);
	return t.n;
}

bool
lock_table_query(const struct lock_table *lt, const struct lock_key *key,
		 uint64_t now_ms, struct lock_query *out)
{
	uint32_t slot = lt_lock_find(lt, key);
	const struct lt_lock *lk;

	memset(out, 0, sizeof(*out));
	if (slot == LT_NONE)
		return false;
	lk = &lt->locks[slot];
	out->held = lk->holders > 0;
	out->shared = lk->holders > 0 && lk->shared;
	out->holders = lk->holders;
	out->waiters = lk->waiters;
	if (lk->hold_head != LT_NONE) {
		const struct lt_req *r = &lt->reqs[lk->hold_head];
		uint64_t left =
			r->deadline_ms > now_ms ? r->deadline_ms - now_ms : 0;

		out->holder = r->client_id;
		out->token = r->token;
		out->lease_left_ms =
			left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
	}
	return true;
}

/* Prefetch for reading and writing, kept in all cache levels. */
static inline void
lt_prefetch_bucket(const struct lt_map *m, uint32_t h)
{
	__builtin_prefetch(&m->buckets[h & m->mask], 1, 3);
}

/* Prefetch for writing both cache lines a dedup answer may straddle. */
static inline void
lt_prefetch_answer(const struct lock_table *lt, uint32_t slot)
{
	const char *a = (const char *)&lt->dedup[slot];

	__builtin_prefetch(a, 1, 3);
	__builtin_prefetch(a + sizeof(struct lt_answer) - 1, 1, 3);
}

/*
 * Three passes, each issuing every prefetch it can before the next one
 * needs their lines: the misses of a whole burst overlap instead of
 * being taken one after another (at 2 M ops/s the maps and the dedup
 * ring are larger than L2 and each access would be an L3 round trip).
 * The ring first: the last pass reads the hashes of the answers it
 * evicts, by then on their way.
 */
void
lock_table_prefetch_burst(const struct lock_table *lt,
			  const struct lock_hint *hints, unsigned n)
{
	uint32_t max = lt->cfg.dedup_max;
	uint64_t token = lt->token_last;
	unsigned i;

	/* Each keyed entry's answer takes the next slot: the oldest. */
	for (i = 0; i < n && i < max; i++) {
		uint32_t slot = lt->dedup_head + lt->dedup_count + i;

		while (slot >= max)
			slot -= max;
		lt_prefetch_answer(lt, slot);
	}
	for (i = 0; i < n; i++) {
		const struct lock_hint *h = &hints[i];
		uint32_t eh;

		switch (h->op) {
		case LOCK_E_ACQUIRE:
		case LOCK_E_RELEASE:
		case LOCK_E_RENEW:
		case LOCK_E_KEEPALIVE:
			break;
		default:
			continue;
		}
		eh = lt_req_hash(h->client_id, h->request_id);
		lt_prefetch_bucket(&lt->dedup_map, eh);
		if (h->op == LOCK_E_ACQUIRE) {
			lt_prefetch_bucket(&lt->req_map, eh);
			/* The token a grant would take (lt_token_next). */
			lt_prefetch_bucket(&lt->token_map,
					   lt_token_hash(++token));
		} else if (h->op != LOCK_E_KEEPALIVE) {
			lt_prefetch_bucket(&lt->token_map,
					   lt_token_hash(h->token));
		}
	}
	/* The map buckets of the answers evicting those slots deletes. */
	if (max == 0 || lt->dedup_count < max)
		return;
	for (i = 0; i < n && i < max; i++) {
		uint32_t slot = lt->dedup_head + i;

		if (slot >= max)
			slot -= max;
		lt_prefetch_bucket(&lt->dedup_map, lt->dedup[slot].hash);
	}
}

uint64_t
lock_table_token_last(const struct lock_table *lt)
{
	return lt->token_last;
}

const struct lock_table_counters *
lock_table_counters(const struct lock_table *lt)
{
	return &lt->counters;
}

void
lock_table_gauges(const struct lock_table *lt, struct lock_table_gauges *out)
{
	out->locks = lt->locks_used;
	out->holders = lt->holders_used;
	out->waiters = lt->waiters_used;
	out->sessions = lt->sessions_used;
}

void
lock_table_check_invariants(const struct lock_table *lt)
{
	uint32_t locks = 0, holders = 0, waiters = 0, sessions = 0;
	uint32_t s, slot, i, n;

	LATCH_ASSERT(lt->pending_head == LT_NONE);
	for (slot = 0; slot < lt->cfg.locks_max; slot++) {
		const struct lt_lock *lk = &lt->locks[slot];
		uint64_t last = 0;

		if (!lk->in_use)
			continue;
		locks++;
		LATCH_ASSERT(lt->index.lookup(lt->index_ctx, &lk->key) ==
			     (int32_t)slot);
		LATCH_ASSERT(lk->holders > 0 || lk->waiters > 0);
		LATCH_ASSERT(lk->waiters == 0 || lk->holders > 0);
		LATCH_ASSERT(lk->shared || lk->holders <= 1);
		LATCH_ASSERT(!lk->pending);
		n = 0;
		for (i = lk->hold_head; i != LT_NONE; i = lt->reqs[i].next) {
			const struct lt_req *r = &lt->reqs[i];

			LATCH_ASSERT(r->state == LT_REQ_HOLDING);
			LATCH_ASSERT(r->lock == slot);
			LATCH_ASSERT(((r->flags & LATCH_F_SHARED) != 0) ==
				     lk->shared);
			/* Holders are listed in grant order. */
			LATCH_ASSERT(r->token > last);
			LATCH_ASSERT(r->token <= lt->token_last);
			last = r->token;
			LATCH_ASSERT(lt_map_find(lt, &lt->token_map,
						 LT_MAP_TOKEN, r->token,
						 0) == i);
			LATCH_ASSERT(r->token_hash == lt_token_hash(r->token));
			LATCH_ASSERT(r->req_hash ==
				     lt_req_hash(r->client_id, r->request_id));
			LATCH_ASSERT(lt_map_find(lt, &lt->req_map, LT_MAP_REQ,
						 r->client_id,
						 r->request_id) == i);
			LATCH_ASSERT(timer_node_is_armed(&r->timer));
			n++;
		}
		LATCH_ASSERT(n == lk->holders);
		holders += n;
		n = 0;
		for (i = lk->wait_head; i != LT_NONE; i = lt->reqs[i].next) {
			const struct lt_req *r = &lt->reqs[i];

			LATCH_ASSERT(r->state == LT_REQ_WAITING);
			LATCH_ASSERT(r->lock == slot);
			LATCH_ASSERT(lt_map_find(lt, &lt->req_map, LT_MAP_REQ,
						 r->client_id,
						 r->request_id) == i);
			LATCH_ASSERT(timer_node_is_armed(&r->timer));
			n++;
		}
		LATCH_ASSERT(n == lk->waiters);
		waiters += n;
		if (lk->waiters > 0) {
			/* The head is blocked by the holders. */
			const struct lt_req *h = &lt->reqs[lk->wait_head];

			LATCH_ASSERT(
				!(lk->shared && (h->flags & LATCH_F_SHARED)));
		}
	}
	LATCH_ASSERT(locks == lt->locks_used);
	LATCH_ASSERT(holders == lt->holders_used);
	LATCH_ASSERT(waiters == lt->waiters_used);
	LATCH_ASSERT(lt->token_map.count == holders);
	LATCH_ASSERT(lt->req_map.count == holders + waiters);
	n = 0;
	for (i = lt->req_free; i != LT_NONE; i = lt->reqs[i].next) {
		LATCH_ASSERT(lt->reqs[i].state == LT_REQ_FREE);
		n++;
	}
	LATCH_ASSERT(n + holders + waiters == lt->reqs_max);
	for (s = 0; s < lt->cfg.sessions_max; s++) {
		const struct lt_session *ss = &lt->sessions[s];
		uint32_t grants = 0;

		if (!ss->in_use)
			continue;
		sessions++;
		LATCH_ASSERT(lt_map_find(lt, &lt->session_map, LT_MAP_SESSION,
					 ss->client_id, 0) == s);
		LATCH_ASSERT(timer_node_is_armed(&ss->timer));
		for (i = ss->bound_head; i != LT_NONE;
		     i = lt->reqs[i].sess_next) {
			LATCH_ASSERT(lt->reqs[i].session == s);
			LATCH_ASSERT(lt->reqs[i].client_id == ss->client_id);
			if (lt->reqs[i].state == LT_REQ_HOLDING)
				grants++;
		}
		LATCH_ASSERT(grants == ss->grants);
	}
	LATCH_ASSERT(sessions == lt->sessions_used);
	LATCH_ASSERT(lt->session_map.count == sessions);
	LATCH_ASSERT(lt->dedup_map.count == lt->dedup_count);
	for (n = 0; n < lt->dedup_count; n++) {
		uint32_t d = lt->dedup_head + n;
		const struct lt_answer *a;

		if (d >= lt->cfg.dedup_max)
			d -= lt->cfg.dedup_max;
		a = &lt->dedup[d];
		LATCH_ASSERT(a->hash ==
			     lt_req_hash(a->client_id, a->request_id));
		LATCH_ASSERT(lt_map_find(lt, &lt->dedup_map, LT_MAP_DEDUP,
					 a->client_id, a->request_id) == d);
	}
	LATCH_ASSERT(timer_wheel_armed(lt->wheel) ==
		     holders + waiters + sessions);
}

/* Fold @v into digest @h (an fmix64 round per word). */
static inline uint64_t
lt_digest_add(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint64_t
lt_digest_req(uint64_t h, const struct lt_req *r)
{
	h = lt_digest_add(h, r->client_id);
	h = lt_digest_add(h, r->request_id);
	h = lt_digest_add(h, r->token);
	h = lt_digest_add(h, r->deadline_ms);
	h = lt_digest_add(h, ((uint64_t)r->lease_ms << 32) | r->wait_ms);
	h = lt_digest_add(h, ((uint64_t)r->flags << 8) | r->state);
	return h;
}

/*
 * Locks and sessions are each hashed alone and the hashes summed, so the
 * digest does not depend on where they sit: a lock's slot comes from the
 * key index and a session's from the pool's free list, which differ
 * between a table that applied the entries and one loaded from a snapshot
 * (or using another index) though their states are the same. The dedup
 * window is folded in its FIFO order, as it is replicated state too.
 */
uint64_t
lock_table_digest(const struct lock_table *lt)
{
	uint64_t h = lt_digest_add(0, lt->token_last);
	uint64_t locks = 0, sessions = 0;
	uint32_t slot, i, s, n;

	for (slot = 0; slot < lt->cfg.locks_max; slot++) {
		const struct lt_lock *lk = &lt->locks[slot];
		uint64_t x;

		if (!lk->in_use)
			continue;
		x = lt_digest_add(1, lk->key.len);
		for (i = 0; i < lk->key.len; i++)
			x = lt_digest_add(x, lk->key.bytes[i]);
		for (i = lk->hold_head; i != LT_NONE; i = lt->reqs[i].next)
			x = lt_digest_req(x, &lt->reqs[i]);
		x = lt_digest_add(x, UINT64_MAX); /* holders | waiters */
		for (i = lk->wait_head; i != LT_NONE; i = lt->reqs[i].next)
			x = lt_digest_req(x, &lt->reqs[i]);
		locks += x;
	}
	for (s = 0; s < lt->cfg.sessions_max; s++) {
		const struct lt_session *ss = &lt->sessions[s];
		uint64_t x;

		if (!ss->in_use)
			continue;
		x = lt_digest_add(2, ss->client_id);
		x = lt_digest_add(x, ss->deadline_ms);
		x = lt_digest_add(x, ss->timeout_ms);
		x = lt_digest_add(x, ss->grants);
		/* Bound requests in order: the order a session end uses. */
		for (i = ss->bound_head; i != LT_NONE;
		     i = lt->reqs[i].sess_next)
			x = lt_digest_add(x, lt->reqs[i].request_id);
		sessions += x;
	}
	h = lt_digest_add(h, lt->locks_used);
	h = lt_digest_add(h, locks);
	h = lt_digest_add(h, lt->sessions_used);
	h = lt_digest_add(h, sessions);
	h = lt_digest_add(h, lt->dedup_count);
	for (n = 0; n < lt->dedup_count; n++) {
		const struct lt_answer *a;

		i = lt->dedup_head + n;
		if (i >= lt->cfg.dedup_max)
			i -= lt->cfg.dedup_max;
		a = &lt->dedup[i];
		h = lt_digest_add(h, a->client_id);
		h = lt_digest_add(h, a->request_id);
		h = lt_digest_add(h, a->token);
		h = lt_digest_add(h, ((uint64_t)a->count << 32) | a->lease_ms);
		h = lt_digest_add(h, ((uint64_t)a->wait_ms << 32) |
					     ((uint64_t)a->status << 16) |
					     a->flags);
		h = lt_digest_add(h, a->op);
	}
	return h;
}

/* ---- snapshots ---- */

/*
 * Snapshot format, version 1 (also docs/snapshot.md). Every integer is
 * big-endian; there is no padding. The stream is a sequence of records:
 *
 * header, 60 bytes:
 *   magic u32 0x4c54534e ("LTSN"), version u16 (2), reserved u16 (0),
 *   lease_default_ms u32, lease_max_ms u32, wait_default_ms u32,
 *   wait_max_ms u32, session_default_ms u32, session_max_ms u32 (the
 *   saving table's policy: a load refuses a different one),
 *   token_last u64,
 *   locks u32, holders u32, waiters u32, sessions u32, dedup u32 (how
 *   many records of each kind follow: checked against the pools first).
 * then per lock (in any order):
 *   key_len u16 (1 .. LATCH_KEY_MAX), key bytes[key_len], mode u8 (0
 *   exclusive, 1 shared), holders u32 (>= 1), waiters u32,
 *   then its holders in grant order and its waiters in FIFO order, each
 *   a request record of 58 bytes:
 *     client_id u64, request_id u64, token u64 (0 for a waiter),
 *     deadline_ms u64 (lease end, or wait end for a waiter), lease_ms u32,
 *     wait_ms u32, flags u16 (LATCH_F_SHARED | LATCH_F_SESSION),
 *     addr bytes[16].
 * then per session, 24 bytes:
 *   client_id u64, timeout_ms u32, deadline_ms u64, bound u32,
 *   then the request_id u64 of each request bound to the session, in the
 *   session's order (which is the order a session end reports them in).
 * then the dedup window, oldest answer first, 41 bytes each:
 *   client_id u64, request_id u64, token u64, count u32, lease_ms u32,
 *   wait_ms u32, status u16, flags u16, op u8.
 * then the trailer: CRC-32C of every byte before it, u32. Nothing after.
 * (Version 1 ended in an FNV-1a 64, a multiply per byte: a third of the
 * CPU time of a replicated partition went to it, docs/snapshot.md.)
 *
 * What lock_table_apply() reads is all there: the records, their order
 * (holder lists, queues, session bindings and the window are all ordered
 * state) and token_last. Lock slots and pool positions are not saved: they
 * have no effect on what apply does, and lock_table_digest() ignores them.
 */

#define LT_SNAP_MAGIC      0x4c54534eu
#define LT_SNAP_HDR_LEN    60u
#define LT_SNAP_LOCK_FIXED 9u /* after the key: mode, holders, waiters */
#define LT_SNAP_REQ_LEN    58u
#define LT_SNAP_SESS_LEN   24u
#define LT_SNAP_BOUND_LEN  8u
#define LT_SNAP_DEDUP_LEN  41u
#define LT_SNAP_SUM_LEN    4u

_Static_assert(2 + LATCH_KEY_MAX + LT_SNAP_LOCK_FIXED <=
		       LOCK_SNAPSHOT_RECORD_MAX,
	       "a lock record fits a cursor's stage");
_Static_assert(LT_SNAP_HDR_LEN <= LOCK_SNAPSHOT_RECORD_MAX &&
		       LT_SNAP_REQ_LEN <= LOCK_SNAPSHOT_RECORD_MAX &&
		       LT_SNAP_DEDUP_LEN <= LOCK_SNAPSHOT_RECORD_MAX,
	       "every record fits a cursor's stage");

/* Request flags a snapshot may carry: the ones lt_acquire() keeps. */
#define LT_REQ_FLAGS (LATCH_F_SHARED | LATCH_F_SESSION)

enum lt_save_phase {
	LT_SAVE_HEADER = 0,
	LT_SAVE_LOCKS,
	LT_SAVE_SESSIONS,
	LT_SAVE_DEDUP,
	LT_SAVE_TRAILER,
	LT_SAVE_DONE,
};

enum lt_save_list {
	LT_LIST_HOLDERS = 0,
	LT_LIST_WAITERS,
};

static void
lt_snap_put_req(uint8_t *p, const struct lt_req *r)
{
	be_put64(p, r->client_id);
	be_put64(p + 8, r->request_id);
	be_put64(p + 16, r->state == LT_REQ_HOLDING ? r->token : 0);
	be_put64(p + 24, r->deadline_ms);
	be_put32(p + 32, r->lease_ms);
	be_put32(p + 36, r->wait_ms);
	be_put16(p + 40, r->flags);
	memcpy(p + 42, r->addr.bytes, sizeof(r->addr.bytes));
}

static void
lt_snap_put_header(const struct lock_table *lt, uint8_t *p)
{
	be_put32(p, LT_SNAP_MAGIC);
	be_put16(p + 4, LOCK_SNAPSHOT_VERSION);
	be_put16(p + 6, 0);
	be_put32(p + 8, lt->cfg.lease_default_ms);
	be_put32(p + 12, lt->cfg.lease_max_ms);
	be_put32(p + 16, lt->cfg.wait_default_ms);
	be_put32(p + 20, lt->cfg.wait_max_ms);
	be_put32(p + 24, lt->cfg.session_default_ms);
	be_put32(p + 28, lt->cfg.session_max_ms);
	be_put64(p + 32, lt->token_last);
	be_put32(p + 40, lt->locks_used);
	be_put32(p + 44, lt->holders_used);
	be_put32(p + 48, lt->waiters_used);
	be_put32(p + 52, lt->sessions_used);
	be_put32(p + 56, lt->dedup_count);
}

/*
 * Write the next record of the save at @p (room for
 * LOCK_SNAPSHOT_RECORD_MAX bytes) and set c->stage_len to its length.
 * Returns false once the trailer was made. Each call makes one record,
 * so a save's work per chunk is bounded by the chunk (plus the empty
 * slots skipped). The checksum is the caller's (lock_table_save_next):
 * the trailer is made in a call of its own, after every other byte was
 * summed, so c->sum is complete by then.
 */
static bool
lt_save_fill(const struct lock_table *lt, struct lock_snapshot_cursor *c,
	     uint8_t *p)
{
	c->stage_off = 0;
	c->stage_len = 0;
	/* Bounded: each pass either makes a record or moves to a phase. */
	for (;;) {
		switch (c->phase) {
		case LT_SAVE_HEADER:
			lt_snap_put_header(lt, p);
			c->stage_len = LT_SNAP_HDR_LEN;
			c->phase = LT_SAVE_LOCKS;
			c->pos = 0;
			c->req = LT_NONE;
			break;
		case LT_SAVE_LOCKS: {
			const struct lt_lock *lk;

			if (c->req != LT_NONE) {
				const struct lt_req *r = &lt->reqs[c->req];

				lt_snap_put_req(p, r);
				c->stage_len = LT_SNAP_REQ_LEN;
				c->req = r->next;
				lk = &lt->locks[c->pos];
				if (c->req == LT_NONE &&
				    c->list == LT_LIST_HOLDERS) {
					c->list = LT_LIST_WAITERS;
					c->req = lk->wait_head;
				}
				if (c->req == LT_NONE)
					c->pos++;
				break;
			}
			while (c->pos < lt->cfg.locks_max &&
			       !lt->locks[c->pos].in_use)
				c->pos++;
			if (c->pos == lt->cfg.locks_max) {
				c->phase = LT_SAVE_SESSIONS;
				c->pos = 0;
				continue;
			}
			lk = &lt->locks[c->pos];
			LATCH_ASSERT(lk->holders > 0);
			be_put16(p, lk->key.len);
			memcpy(p + 2, lk->key.bytes, lk->key.len);
			p[2 + lk->key.len] = lk->shared ? 1 : 0;
			be_put32(p + 3 + lk->key.len, lk->holders);
			be_put32(p + 7 + lk->key.len, lk->waiters);
			c->stage_len = (uint16_t)(2 + lk->key.len +
						  LT_SNAP_LOCK_FIXED);
			c->list = LT_LIST_HOLDERS;
			c->req = lk->hold_head;
			break;
		}
		case LT_SAVE_SESSIONS: {
			const struct lt_session *ss;
			uint32_t bound = 0, i;

			if (c->req != LT_NONE) {
				be_put64(p, lt->reqs[c->req].request_id);
				c->stage_len = LT_SNAP_BOUND_LEN;
				c->req = lt->reqs[c->req].sess_next;
				if (c->req == LT_NONE)
					c->pos++;
				break;
			}
			while (c->pos < lt->cfg.sessions_max &&
			       !lt->sessions[c->pos].in_use)
				c->pos++;
			if (c->pos >= lt->cfg.sessions_max) {
				c->phase = LT_SAVE_DEDUP;
				c->pos = 0;
				continue;
			}
			ss = &lt->sessions[c->pos];
			for (i = ss->bound_head; i != LT_NONE;
			     i = lt->reqs[i].sess_next)
				bound++;
			be_put64(p, ss->client_id);
			be_put32(p + 8, ss->timeout_ms);
			be_put64(p + 12, ss->deadline_ms);
			be_put32(p + 20, bound);
			c->stage_len = LT_SNAP_SESS_LEN;
			c->req = ss->bound_head;
			if (c->req == LT_NONE)
				c->pos++;
			break;
		}
		case LT_SAVE_DEDUP: {
			const struct lt_answer *a;
			uint32_t i;

			if (c->pos >= lt->dedup_count) {
				/* An empty record: the next call makes the
				 * trailer, once what came before is summed. */
				c->phase = LT_SAVE_TRAILER;
				return true;
			}
			i = lt->dedup_head + c->pos;
			if (i >= lt->cfg.dedup_max)
				i -= lt->cfg.dedup_max;
			a = &lt->dedup[i];
			be_put64(p, a->client_id);
			be_put64(p + 8, a->request_id);
			be_put64(p + 16, a->token);
			be_put32(p + 24, a->count);
			be_put32(p + 28, a->lease_ms);
			be_put32(p + 32, a->wait_ms);
			be_put16(p + 36, a->status);
			be_put16(p + 38, a->flags);
			p[40] = a->op;
			c->stage_len = LT_SNAP_DEDUP_LEN;
			c->pos++;
			break;
		}
		case LT_SAVE_TRAILER:
			be_put32(p, c->sum);
			c->stage_len = LT_SNAP_SUM_LEN;
			c->phase = LT_SAVE_DONE;
			return true;
		default:
			return false;
		}
		return true;
	}
}

int
lock_table_save_begin(const struct lock_table *lt,
		      struct lock_snapshot_cursor *c)
{
	LATCH_ASSERT(lt != NULL && c != NULL);
	if (lt->load.active)
		return -EBUSY;
	memset(c, 0, sizeof(*c));
	c->generation = lt->generation;
	c->sum = 0;
	c->phase = LT_SAVE_HEADER;
	c->req = LT_NONE;
	return 0;
}

size_t
lock_table_save_next(const struct lock_table *lt,
		     struct lock_snapshot_cursor *c, uint8_t *buf, size_t max)
{
	size_t out = 0;
	size_t sum_from = 0; /* buf[sum_from, out) is not summed yet */

	/* The state changed under the save: the caller broke the rule. */
	LATCH_ASSERT(c->generation == lt->generation && !lt->load.active);
	/*
	 * Bounded by @max: each pass copies at least one byte or ends.
	 * Records are made in place while a whole one fits, and summed in
	 * one run per call: record by record, the CRC's call and its tail
	 * cost a 2.7 MB save as much as making the records.
	 */
	while (out < max) {
		size_t n;

		if (c->stage_off == c->stage_len) {
			uint8_t *p = c->stage;

			if (c->phase == LT_SAVE_TRAILER) {
				c->sum = crc32c(c->sum, buf + sum_from,
						out - sum_from);
				sum_from = out;
			} else if (max - out >= LOCK_SNAPSHOT_RECORD_MAX) {
				p = buf + out;
			}
			if (!lt_save_fill(lt, c, p))
				break;
			if (p != c->stage) {
				c->stage_off = c->stage_len;
				out += c->stage_len;
				continue;
			}
		}
		n = (size_t)(c->stage_len - c->stage_off);
		if (n > max - out)
			n = max - out;
		memcpy(buf + out, c->stage + c->stage_off, n);
		c->stage_off = (uint16_t)(c->stage_off + n);
		out += n;
	}
	/* Once the trailer is made nothing more is summed. */
	if (c->phase != LT_SAVE_DONE)
		c->sum = crc32c(c->sum, buf + sum_from, out - sum_from);
	return out;
}

uint64_t
lock_table_save_size(const struct lock_table *lt)
{
	uint64_t n = LT_SNAP_HDR_LEN + LT_SNAP_SUM_LEN;
	uint32_t slot, i;

	for (slot = 0; slot < lt->cfg.locks_max; slot++) {
		const struct lt_lock *lk = &lt->locks[slot];

		if (lk->in_use)
			n += 2 + lk->key.len + LT_SNAP_LOCK_FIXED;
	}
	n += (uint64_t)(lt->holders_used + lt->waiters_used) * LT_SNAP_REQ_LEN;
	n += (uint64_t)lt->sessions_used * LT_SNAP_SESS_LEN;
	for (i = 0; i < lt->reqs_max; i++)
		if (lt->reqs[i].state != LT_REQ_FREE &&
		    lt->reqs[i].session != LT_NONE)
			n += LT_SNAP_BOUND_LEN;
	n += (uint64_t)lt->dedup_count * LT_SNAP_DEDUP_LEN;
	return n;
}

int64_t
lock_table_save(const struct lock_table *lt, uint8_t *buf, uint64_t max)
{
	struct lock_snapshot_cursor c;
	uint8_t more;
	size_t n;
	int err;

	err = lock_table_save_begin(lt, &c);
	if (err != 0)
		return err;
	if (max > SIZE_MAX)
		max = SIZE_MAX;
	n = lock_table_save_next(lt, &c, buf, (size_t)max);
	if (lock_table_save_next(lt, &c, &more, 1) != 0)
		return -ENOSPC;
	return (int64_t)n;
}

/* ---- loading ---- */

enum lt_load_phase {
	LT_LOAD_HEADER = 0,
	LT_LOAD_LOCK_HEAD, /* key_len */
	LT_LOAD_LOCK_BODY, /* key, mode, counts */
	LT_LOAD_REQ,
	LT_LOAD_SESSION,
	LT_LOAD_BOUND,
	LT_LOAD_DEDUP,
	LT_LOAD_TRAILER,
	LT_LOAD_DONE,
};

static void
lt_map_clear(struct lt_map *m)
{
	uint32_t i;

	for (i = 0; i <= m->mask; i++) {
		m->buckets[i].hash = 0;
		m->buckets[i].val = LT_NONE;
	}
	m->count = 0;
}

/*
 * Empty @lt as lock_table_create() made it, but keep the counters and the
 * wheel's time: every key leaves the index, every timer is cancelled.
 * O(pools): for loads only.
 */
static void
lt_clear(struct lock_table *lt)
{
	uint32_t i;

	for (i = 0; i < lt->cfg.locks_max; i++) {
		struct lt_lock *lk = &lt->locks[i];

		if (lk->in_use) {
			int32_t got = lt->index.del(lt->index_ctx, &lk->key);

			LATCH_ASSERT(got == (int32_t)i);
		}
		memset(lk, 0, sizeof(*lk));
	}
	for (i = 0; i < lt->reqs_max; i++) {
		struct lt_req *r = &lt->reqs[i];

		timer_wheel_cancel(lt->wheel, &r->timer);
		r->state = LT_REQ_FREE;
		r->session = LT_NONE;
		r->next = i + 1 < lt->reqs_max ? i + 1 : LT_NONE;
	}
	lt->req_free = 0;
	for (i = 0; i < lt->cfg.sessions_max; i++) {
		struct lt_session *ss = &lt->sessions[i];

		timer_wheel_cancel(lt->wheel, &ss->timer);
		ss->in_use = false;
		ss->next_free = i + 1 < lt->cfg.sessions_max ? i + 1 : LT_NONE;
	}
	lt->session_free = lt->cfg.sessions_max ? 0 : LT_NONE;
	lt_map_clear(&lt->req_map);
	lt_map_clear(&lt->token_map);
	lt_map_clear(&lt->session_map);
	lt_map_clear(&lt->dedup_map);
	lt->dedup_head = lt->dedup_count = 0;
	lt->locks_used = lt->holders_used = lt->waiters_used = 0;
	lt->sessions_used = 0;
	lt->pending_head = LT_NONE;
	lt->token_last = 0;
	LATCH_ASSERT(timer_wheel_armed(lt->wheel) == 0);
}

static int
lt_load_header(struct lock_table *lt, const uint8_t *p)
{
	struct lt_load *ld = &lt->load;
	const struct lock_table_config *cfg = &lt->cfg;

	if (be_get32(p) != LT_SNAP_MAGIC ||
	    be_get16(p + 4) != LOCK_SNAPSHOT_VERSION || be_get16(p + 6) != 0)
		return -EINVAL;
	/* Replicas must apply with one policy, or their states part. */
	if (be_get32(p + 8) != cfg->lease_default_ms ||
	    be_get32(p + 12) != cfg->lease_max_ms ||
	    be_get32(p + 16) != cfg->wait_default_ms ||
	    be_get32(p + 20) != cfg->wait_max_ms ||
	    be_get32(p + 24) != cfg->session_default_ms ||
	    be_get32(p + 28) != cfg->session_max_ms)
		return -EINVAL;
	lt->token_last = be_get64(p + 32);
	ld->locks_left = be_get32(p + 40);
	ld->holders_left = be_get32(p + 44);
	ld->waiters_left = be_get32(p + 48);
	ld->sessions_left = be_get32(p + 52);
	ld->dedup_left = be_get32(p + 56);
	/*
	 * What the pools really allow, no more and no less: holders and
	 * waiters share the request pool (lt->reqs_max, holders_max +
	 * waiters_max records), and a shared batch grant from the queue
	 * turns waiters into holders in place, so holders may exceed
	 * holders_max in a live table (only new ACQUIREs are checked
	 * against it). Waiters never exceed waiters_max (only an ACQUIRE
	 * queues, and it is checked). The maps are sized for the pools
	 * (req_map and token_map for reqs_max), so what fits the pools
	 * fits them. In 64 bits: the sum of two u32 fields.
	 */
	if (ld->locks_left > cfg->locks_max ||
	    (uint64_t)ld->holders_left + ld->waiters_left > lt->reqs_max ||
	    ld->waiters_left > cfg->waiters_max ||
	    ld->sessions_left > cfg->sessions_max ||
	    ld->dedup_left > cfg->dedup_max)
		return -ENOSPC;
	/* Every lock has a holder; a holder needs a lock. */
	if (ld->locks_left > ld->holders_left ||
	    (ld->locks_left == 0 && ld->holders_left > 0))
		return -EINVAL;
	return 0;
}

static int
lt_load_lock(struct lock_table *lt, const uint8_t *p, uint16_t key_len)
{
	struct lt_load *ld = &lt->load;
	struct lock_key key;
	uint8_t mode = p[key_len];
	uint32_t holders = be_get32(p + key_len + 1);
	uint32_t waiters = be_get32(p + key_len + 5);
	int32_t slot;

	if (mode > 1 || holders == 0 || (mode == 0 && holders != 1) ||
	    holders > ld->holders_left || waiters > ld->waiters_left)
		return -EINVAL;
	if (lock_key_set(&key, p, key_len) != 0)
		return -EINVAL;
	slot = lt->index.add(lt->index_ctx, &key);
	if (slot < 0)
		return -ENOSPC;
	if ((uint32_t)slot >= lt->cfg.locks_max) {
		/* An index sized above locks_max: its excess is full. */
		lt->index.del(lt->index_ctx, &key);
		return -ENOSPC;
	}
	/* The same key twice: the slot belongs to the first lock. */
	if (lt->locks[slot].in_use)
		return -EINVAL;
	lt_lock_init(lt, (uint32_t)slot, &key);
	lt->locks[slot].shared = mode == 1;
	ld->locks_left--;
	ld->holders_left -= holders;
	ld->waiters_left -= waiters;
	ld->slot = (uint32_t)slot;
	ld->lock_holders_left = holders;
	ld->lock_waiters_left = waiters;
	ld->last_token = 0;
	return 0;
}

static int
lt_load_req(struct lock_table *lt, const uint8_t *p)
{
	struct lt_load *ld = &lt->load;
	struct lt_lock *lk = &lt->locks[ld->slot];
	bool holding = ld->holding;
	uint64_t client_id = be_get64(p);
	uint64_t request_id = be_get64(p + 8);
	uint64_t token = be_get64(p + 16);
	uint32_t lease_ms = be_get32(p + 32);
	uint32_t wait_ms = be_get32(p + 36);
	uint16_t flags = be_get16(p + 40);
	bool shared = (flags & LATCH_F_SHARED) != 0;
	uint32_t h = lt_req_hash(client_id, request_id);
	uint32_t i;
	struct lt_req *r;

	if ((flags & ~LT_REQ_FLAGS) != 0 || lease_ms == 0 ||
	    lease_ms > lt->cfg.lease_max_ms || wait_ms > lt->cfg.wait_max_ms)
		return -EINVAL;
	if (lt_map_find_h(lt, &lt->req_map, LT_MAP_REQ, h, client_id,
			  request_id) != LT_NONE)
		return -EINVAL;
	if (holding) {
		/* Grant order is token order; tokens are unique. */
		if (shared != lk->shared || token <= ld->last_token ||
		    token > lt->token_last)
			return -EINVAL;
		if (lt_map_find(lt, &lt->token_map, LT_MAP_TOKEN, token, 0) !=
		    LT_NONE)
			return -EINVAL;
	} else {
		if (token != 0 || wait_ms == 0)
			return -EINVAL;
		/* A compatible head would have been granted. */
		if (lk->waiters == 0 && lk->shared && shared)
			return -EINVAL;
	}
	i = lt_req_alloc(lt);
	/* The header's counts were checked against the pools. */
	LATCH_ASSERT(i != LT_NONE);
	r = &lt->reqs[i];
	r->client_id = client_id;
	r->request_id = request_id;
	r->token = token;
	r->deadline_ms = be_get64(p + 24);
	r->lock = ld->slot;
	r->session = LT_NONE;
	r->sess_prev = r->sess_next = LT_NONE;
	r->lease_ms = lease_ms;
	r->wait_ms = wait_ms;
	r->flags = flags;
	memcpy(r->addr.bytes, p + 42, sizeof(r->addr.bytes));
	r->req_hash = h;
	lt_map_put(&lt->req_map, h, i);
	if (holding) {
		r->state = LT_REQ_HOLDING;
		lt_list_append(lt, &lk->hold_head, &lk->hold_tail, i);
		lk->holders++;
		lt->holders_used++;
		r->token_hash = lt_token_hash(token);
		lt_map_put(&lt->token_map, r->token_hash, i);
		ld->last_token = token;
		ld->lock_holders_left--;
	} else {
		r->state = LT_REQ_WAITING;
		lt_list_append(lt, &lk->wait_head, &lk->wait_tail, i);
		lk->waiters++;
		lt->waiters_used++;
		ld->lock_waiters_left--;
	}
	timer_wheel_arm(lt->wheel, &r->timer, r->deadline_ms);
	if (flags & LATCH_F_SESSION)
		ld->sess_reqs++;
	return 0;
}

static int
lt_load_session(struct lock_table *lt, const uint8_t *p)
{
	struct lt_load *ld = &lt->load;
	uint64_t client_id = be_get64(p);
	uint32_t timeout_ms = be_get32(p + 8);
	uint32_t bound = be_get32(p + 20);
	uint32_t h = lt_session_hash(client_id);
	struct lt_session *ss;
	uint32_t s;

	if (timeout_ms == 0 || timeout_ms > lt->cfg.session_max_ms ||
	    bound > ld->sess_reqs - ld->sess_bound)
		return -EINVAL;
	if (lt_map_find_h(lt, &lt->session_map, LT_MAP_SESSION, h, client_id,
			  0) != LT_NONE)
		return -EINVAL;
	s = lt->session_free;
	/* The header's count was checked against the pool. */
	LATCH_ASSERT(s != LT_NONE);
	ss = &lt->sessions[s];
	lt->session_free = ss->next_free;
	ss->in_use = true;
	ss->client_id = client_id;
	ss->timeout_ms = timeout_ms;
	ss->deadline_ms = be_get64(p + 12);
	ss->grants = 0;
	ss->bound_head = LT_NONE;
	lt_map_put(&lt->session_map, h, s);
	lt->sessions_used++;
	timer_wheel_arm(lt->wheel, &ss->timer, ss->deadline_ms);
	ld->sessions_left--;
	ld->sess = s;
	ld->sess_tail = LT_NONE;
	ld->bound_left = bound;
	return 0;
}

/* Bind the next request of the session being loaded, at its tail. */
static int
lt_load_bound(struct lock_table *lt, const uint8_t *p)
{
	struct lt_load *ld = &lt->load;
	struct lt_session *ss = &lt->sessions[ld->sess];
	uint32_t i = lt_map_find(lt, &lt->req_map, LT_MAP_REQ, ss->client_id,
				 be_get64(p));
	struct lt_req *r;

	if (i == LT_NONE)
		return -EINVAL;
	r = &lt->reqs[i];
	if (!(r->flags & LATCH_F_SESSION) || r->session != LT_NONE)
		return -EINVAL;
	r->session = ld->sess;
	r->sess_prev = ld->sess_tail;
	r->sess_next = LT_NONE;
	if (ld->sess_tail == LT_NONE)
		ss->bound_head = i;
	else
		lt->reqs[ld->sess_tail].sess_next = i;
	ld->sess_tail = i;
	if (r->state == LT_REQ_HOLDING)
		ss->grants++;
	ld->sess_bound++;
	ld->bound_left--;
	return 0;
}

static int
lt_load_dedup(struct lock_table *lt, const uint8_t *p)
{
	struct lt_load *ld = &lt->load;
	struct lt_answer a = {
		.client_id = be_get64(p),
		.request_id = be_get64(p + 8),
		.token = be_get64(p + 16),
		.count = be_get32(p + 24),
		.lease_ms = be_get32(p + 28),
		.wait_ms = be_get32(p + 32),
		.status = be_get16(p + 36),
		.flags = be_get16(p + 38),
		.op = p[40],
	};

	switch (a.op) {
	case LATCH_OP_ACQUIRE:
	case LATCH_OP_RELEASE:
	case LATCH_OP_RENEW:
	case LATCH_OP_KEEPALIVE:
		break;
	default:
		return -EINVAL;
	}
	if ((a.flags & ~LATCH_F_SHARED) != 0)
		return -EINVAL;
	a.hash = lt_req_hash(a.client_id, a.request_id);
	if (lt_dedup_find(lt, a.hash, a.client_id, a.request_id) != NULL)
		return -EINVAL;
	/* Never evicts: the header's count was checked against dedup_max. */
	LATCH_ASSERT(lt->dedup_count < lt->cfg.dedup_max);
	lt_dedup_put(lt, &a);
	ld->dedup_left--;
	return 0;
}

/*
 * Choose the record that comes next from what is left, checking at each
 * section's end that the header's totals were met.
 */
static int
lt_load_advance(struct lock_table *lt)
{
	struct lt_load *ld = &lt->load;

	ld->have = 0;
	if (ld->phase == LT_LOAD_TRAILER) {
		ld->phase = LT_LOAD_DONE;
		ld->need = 0;
		return 0;
	}
	if (ld->lock_holders_left > 0 || ld->lock_waiters_left > 0) {
		ld->phase = LT_LOAD_REQ;
		ld->holding = ld->lock_holders_left > 0;
		ld->need = LT_SNAP_REQ_LEN;
		return 0;
	}
	if (ld->locks_left > 0) {
		ld->phase = LT_LOAD_LOCK_HEAD;
		ld->need = 2;
		return 0;
	}
	if (ld->holders_left != 0 || ld->waiters_left != 0)
		return -EINVAL;
	if (ld->bound_left > 0) {
		ld->phase = LT_LOAD_BOUND;
		ld->need = LT_SNAP_BOUND_LEN;
		return 0;
	}
	if (ld->sessions_left > 0) {
		ld->phase = LT_LOAD_SESSION;
		ld->need = LT_SNAP_SESS_LEN;
		return 0;
	}
	/* A request made with LATCH_F_SESSION is bound to its session. */
	if (ld->sess_bound != ld->sess_reqs)
		return -EINVAL;
	if (ld->dedup_left > 0) {
		ld->phase = LT_LOAD_DEDUP;
		ld->need = LT_SNAP_DEDUP_LEN;
		return 0;
	}
	ld->phase = LT_LOAD_TRAILER;
	ld->need = LT_SNAP_SUM_LEN;
	return 0;
}

/* Act on the record gathered in the stage, then choose the next. */
static int
lt_load_record(struct lock_table *lt)
{
	struct lt_load *ld = &lt->load;
	const uint8_t *p = ld->stage;
	uint16_t key_len;
	int err = 0;

	switch (ld->phase) {
	case LT_LOAD_HEADER:
		err = lt_load_header(lt, p);
		break;
	case LT_LOAD_LOCK_HEAD:
		key_len = be_get16(p);
		if (key_len == 0 || key_len > LATCH_KEY_MAX)
			return -EINVAL;
		ld->phase = LT_LOAD_LOCK_BODY;
		ld->need = (uint16_t)(key_len + LT_SNAP_LOCK_FIXED);
		ld->have = 0;
		return 0;
	case LT_LOAD_LOCK_BODY:
		err = lt_load_lock(lt, p,
				   (uint16_t)(ld->need - LT_SNAP_LOCK_FIXED));
		break;
	case LT_LOAD_REQ:
		err = lt_load_req(lt, p);
		break;
	case LT_LOAD_SESSION:
		err = lt_load_session(lt, p);
		break;
	case LT_LOAD_BOUND:
		err = lt_load_bound(lt, p);
		break;
	case LT_LOAD_DEDUP:
		err = lt_load_dedup(lt, p);
		break;
	case LT_LOAD_TRAILER:
		if (be_get32(p) != ld->sum)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (err != 0)
		return err;
	return lt_load_advance(lt);
}

/* End a load with @err: the table is emptied, the error kept. */
static int
lt_load_fail(struct lock_table *lt, int err)
{
	lt_clear(lt);
	lt->load.active = false;
	lt->load.err = err;
	return err;
}

int
lock_table_load_begin(struct lock_table *lt)
{
	struct lt_load *ld = &lt->load;

	LATCH_ASSERT(lt != NULL);
	lt->generation++;
	lt_clear(lt);
	memset(ld, 0, sizeof(*ld));
	ld->active = true;
	ld->phase = LT_LOAD_HEADER;
	ld->need = LT_SNAP_HDR_LEN;
	ld->sum = 0;
	ld->slot = LT_NONE;
	ld->sess = LT_NONE;
	ld->sess_tail = LT_NONE;
	return 0;
}

int
lock_table_load_next(struct lock_table *lt, const uint8_t *buf, size_t len)
{
	struct lt_load *ld = &lt->load;

	if (!ld->active)
		return ld->err != 0 ? ld->err : -EINVAL;
	/* Bounded by @len: each pass takes at least one byte. */
	while (len > 0) {
		size_t n;
		int err;

		if (ld->phase == LT_LOAD_DONE)
			return lt_load_fail(lt, -EINVAL); /* bytes after it */
		n = (size_t)(ld->need - ld->have);
		if (n > len)
			n = len;
		memcpy(ld->stage + ld->have, buf, n);
		ld->have = (uint16_t)(ld->have + n);
		buf += n;
		len -= n;
		if (ld->have < ld->need)
			break;
		if (ld->phase != LT_LOAD_TRAILER)
			ld->sum = crc32c(ld->sum, ld->stage, ld->need);
		err = lt_load_record(lt);
		if (err != 0)
			return lt_load_fail(lt, err);
	}
	return 0;
}

int
lock_table_load_end(struct lock_table *lt)
{
	struct lt_load *ld = &lt->load;

	if (!ld->active)
		return ld->err != 0 ? ld->err : -EINVAL;
	if (ld->phase != LT_LOAD_DONE)
		return lt_load_fail(lt, -EINVAL); /* cut short */
	ld->active = false;
	ld->err = 0;
	return 0;
}

int
lock_table_load(struct lock_table *lt, const uint8_t *buf, size_t len)
{
	int err = lock_table_load_begin(lt);

	if (err == 0)
		err = lock_table_load_next(lt, buf, len);
	if (err != 0)
		return err;
	return lock_table_load_end(lt);
}
