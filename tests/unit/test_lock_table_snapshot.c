/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Lock table snapshots (lock_table_save*, lock_table_load*; format in
 * docs/snapshot.md). The property: a table loaded from a snapshot and then
 * fed the same entries as the table saved gives exactly the same effects
 * and the same lock_table_digest() after every entry. Tables are built by
 * random entry streams with fixed seeds (many locks, shared holders,
 * waiters, sessions, the dedup window), saved and loaded in chunks of
 * every size, and snapshots cut short, corrupted or too big for the pools
 * are refused with the table left empty and consistent.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/key_index.h"
#include "dataplane/lock_table.h"

#define FX_MAX  4096
#define T0      1000000 /* an arbitrary start time, ms */
#define KEYS    150     /* below locks_max: the index rarely fills */
#define CLIENTS 40

struct fx_log {
	unsigned n;
	struct lock_effect fx[FX_MAX];
	struct lock_key key[FX_MAX];
	struct lock_addr addr[FX_MAX];
};

static struct fx_log log_a, log_b;

struct fix {
	struct key_index *ki;
	struct lock_table *lt;
};

static void
record(void *ctx, const struct lock_effect *fx)
{
	struct fx_log *log = ctx;
	unsigned i = log->n++;

	assert_true(i < FX_MAX);
	log->fx[i] = *fx;
	assert_non_null(fx->addr);
	log->addr[i] = *fx->addr;
	log->fx[i].addr = &log->addr[i];
	if (fx->key != NULL) {
		log->key[i] = *fx->key;
		log->fx[i].key = &log->key[i];
	}
}

static struct lock_table_config
cfg_big(void)
{
	struct lock_table_config c = {
		.locks_max = 256,
		.holders_max = 256,
		.waiters_max = 128,
		.sessions_max = 32,
		.dedup_max = 512,
		.lease_default_ms = 1000,
		.lease_max_ms = 4000,
		.wait_default_ms = 500,
		.wait_max_ms = 3000,
		.session_default_ms = 2000,
		.session_max_ms = 6000,
		.timer_slots = 64, /* small: deadlines span revolutions */
	};

	return c;
}

static void
fix_init(struct fix *f, const struct lock_table_config *cfg,
	 uint32_t index_slots)
{
	f->ki = key_index_create(index_slots, NULL);
	assert_non_null(f->ki);
	f->lt = lock_table_create(cfg, &key_index_ops, f->ki);
	assert_non_null(f->lt);
}

static void
fix_fini(struct fix *f)
{
	lock_table_destroy(f->lt);
	key_index_destroy(f->ki);
}

/* ---- a random entry stream (xorshift64, fixed seeds) ---- */

struct gen {
	uint64_t rng;
	uint64_t now;
	uint64_t term;
	uint64_t req;
	uint64_t tokens[64]; /* recent tokens seen in effects */
	unsigned ntok;
	struct lock_entry recent[32]; /* for retries */
	unsigned nrecent;
};

static uint64_t
gen_next(struct gen *g)
{
	g->rng ^= g->rng << 13;
	g->rng ^= g->rng >> 7;
	g->rng ^= g->rng << 17;
	return g->rng;
}

static void
gen_init(struct gen *g, uint64_t seed)
{
	memset(g, 0, sizeof(*g));
	g->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	g->now = T0;
	g->term = 1;
	g->req = 1000;
}

/* Learn tokens from effects, for RELEASE and RENEW entries. */
static void
gen_learn(struct gen *g, const struct fx_log *log)
{
	unsigned i;

	for (i = 0; i < log->n; i++)
		if (log->fx[i].token != 0)
			g->tokens[g->ntok++ % 64] = log->fx[i].token;
}

static struct lock_entry
gen_entry(struct gen *g)
{
	struct lock_entry e;
	uint64_t r = gen_next(g);
	uint64_t s = gen_next(g);
	unsigned kind = (unsigned)(r % 100);
	char name[16];

	memset(&e, 0, sizeof(e));
	g->now += s % 12;
	e.now_ms = g->now;
	e.term = g->term;
	e.client_id = 1 + (r >> 8) % CLIENTS;
	e.request_id = ++g->req;
	snprintf(name, sizeof(name), "key-%u", (unsigned)((r >> 16) % KEYS));
	assert_int_equal(lock_key_set(&e.key, name, (uint16_t)strlen(name)), 0);
	memcpy(e.addr.bytes, &e.client_id, sizeof(e.client_id));
	e.addr.bytes[15] = (uint8_t)(s >> 40);
	if (kind < 45) {
		e.op = LOCK_E_ACQUIRE;
		if ((s >> 8) % 2)
			e.flags |= LATCH_F_WAIT;
		if ((s >> 9) % 5 < 2)
			e.flags |= LATCH_F_SHARED;
		if ((s >> 12) % 10 < 3)
			e.flags |= LATCH_F_SESSION;
		e.lease_ms = (uint32_t)((s >> 16) % 5000);
		e.wait_ms = (uint32_t)((s >> 32) % 4000);
	} else if (kind < 60 || kind < 70) {
		e.op = kind < 60 ? LOCK_E_RELEASE : LOCK_E_RENEW;
		if (g->ntok > 0)
			e.token = g->tokens[(s >> 8) %
					    (g->ntok < 64 ? g->ntok : 64)];
		if ((s >> 20) % 8 == 0)
			e.token++; /* probably stale */
		e.lease_ms = (uint32_t)((s >> 24) % 5000);
	} else if (kind < 82) {
		e.op = LOCK_E_KEEPALIVE;
		e.flags = (s >> 8) % 12 == 0 ? LATCH_F_CLOSE : 0;
		e.lease_ms = (uint32_t)((s >> 16) % 8000);
	} else if (kind < 94) {
		if (g->nrecent > 0) {
			unsigned n = g->nrecent < 32 ? g->nrecent : 32;

			e = g->recent[(s >> 8) % n];
			e.now_ms = g->now;
			return e; /* a retry: not remembered again */
		}
		e.op = LOCK_E_KEEPALIVE;
	} else if (kind < 97) {
		/* Late or stray timer entries: re-checked when applied. */
		e.op = LOCK_E_EXPIRE_LEASE;
		if (g->ntok > 0)
			e.token = g->tokens[(s >> 8) %
					    (g->ntok < 64 ? g->ntok : 64)];
	} else if (kind < 99) {
		e.op = LOCK_E_EXPIRE_WAIT;
		e.request_id = g->req - (s >> 8) % 50;
	} else {
		e.op = LOCK_E_EXPIRE_SESSION;
	}
	g->recent[g->nrecent++ % 32] = e;
	return e;
}

static void
assert_fx_equal(const struct fx_log *a, const struct fx_log *b)
{
	unsigned i;

	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		const struct lock_effect *x = &a->fx[i], *y = &b->fx[i];

		assert_int_equal(x->kind, y->kind);
		assert_int_equal(x->op, y->op);
		assert_int_equal(x->status, y->status);
		assert_int_equal(x->flags, y->flags);
		assert_int_equal(x->count, y->count);
		assert_int_equal(x->lease_ms, y->lease_ms);
		assert_int_equal(x->wait_ms, y->wait_ms);
		assert_int_equal(x->client_id, y->client_id);
		assert_int_equal(x->request_id, y->request_id);
		assert_int_equal(x->token, y->token);
		assert_int_equal(x->holder, y->holder);
		assert_true((x->key == NULL) == (y->key == NULL));
		if (x->key != NULL)
			assert_memory_equal(x->key, y->key, sizeof(*x->key));
		assert_memory_equal(x->addr, y->addr, sizeof(*x->addr));
	}
}

/* Apply @e to @a (and @b if given) and compare what each did. */
static void
apply_both(struct gen *g, struct fix *a, struct fix *b,
	   const struct lock_entry *e)
{
	log_a.n = 0;
	lock_table_apply(a->lt, e, record, &log_a);
	gen_learn(g, &log_a);
	if (b == NULL)
		return;
	log_b.n = 0;
	lock_table_apply(b->lt, e, record, &log_b);
	assert_fx_equal(&log_a, &log_b);
	assert_int_equal(lock_table_digest(a->lt), lock_table_digest(b->lt));
}

/*
 * Feed @steps random entries to @a (the leader: its timers make the
 * EXPIRE entries) and, if given, the same to @b, comparing every effect
 * and the digest after each entry.
 */
static void
drive(struct gen *g, struct fix *a, struct fix *b, unsigned steps)
{
	struct lock_entry out[32];
	unsigned step, n, j;

	for (step = 0; step < steps; step++) {
		struct lock_entry e = gen_entry(g);

		apply_both(g, a, b, &e);
		n = lock_table_tick(a->lt, g->now, out, 32);
		for (j = 0; j < n; j++) {
			out[j].term = g->term;
			apply_both(g, a, b, &out[j]);
		}
		if (gen_next(g) % 1500 == 0) {
			/* A failover: new term, a TAKEOVER entry. */
			struct lock_entry t;

			g->term++;
			memset(&t, 0, sizeof(t));
			t.op = LOCK_E_TAKEOVER;
			t.term = g->term;
			t.now_ms = g->now;
			apply_both(g, a, b, &t);
		}
		if (step % 97 == 0) {
			lock_table_check_invariants(a->lt);
			if (b != NULL)
				lock_table_check_invariants(b->lt);
		}
	}
}

/* ---- snapshot helpers ---- */

/* The whole snapshot of @lt, saved in chunks of @chunk bytes. */
static uint8_t *
save_all(const struct lock_table *lt, size_t chunk, size_t *len)
{
	uint64_t size = lock_table_save_size(lt);
	uint8_t *buf = malloc(size + chunk + 1);
	struct lock_snapshot_cursor c;
	size_t n, off = 0;

	assert_non_null(buf);
	assert_int_equal(lock_table_save_begin(lt, &c), 0);
	do {
		n = lock_table_save_next(lt, &c, buf + off, chunk);
		assert_true(n <= chunk);
		off += n;
		assert_true(off <= size);
		/* Only the last chunk is short. */
		assert_true(n == chunk ||
			    lock_table_save_next(lt, &c, buf + off, chunk) ==
				    0);
	} while (n == chunk);
	assert_int_equal(off, size);
	assert_int_equal(lock_table_save_next(lt, &c, buf, chunk), 0);
	*len = off;
	return buf;
}

/* Load @buf into @lt in chunks of @chunk bytes; returns the result. */
static int
load_chunked(struct lock_table *lt, const uint8_t *buf, size_t len,
	     size_t chunk)
{
	size_t off = 0;
	int err;

	assert_int_equal(lock_table_load_begin(lt), 0);
	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk;

		err = lock_table_load_next(lt, buf + off, n);
		if (err != 0) {
			/* Sticky until the next load_begin. */
			assert_int_equal(lock_table_load_end(lt), err);
			return err;
		}
		off += n;
	}
	return lock_table_load_end(lt);
}

/* @lt is empty: no state at all, and consistent. */
static void
assert_empty(const struct fix *f, uint64_t empty_digest)
{
	struct lock_table_gauges g;

	lock_table_check_invariants(f->lt);
	lock_table_gauges(f->lt, &g);
	assert_int_equal(g.locks, 0);
	assert_int_equal(g.holders, 0);
	assert_int_equal(g.waiters, 0);
	assert_int_equal(g.sessions, 0);
	assert_int_equal(key_index_count(f->ki), 0);
	assert_int_equal(lock_table_token_last(f->lt), 0);
	assert_int_equal(lock_table_digest(f->lt), empty_digest);
	assert_int_equal(lock_table_save_size(f->lt),
			 60 + 4); /* header and trailer: docs/snapshot.md */
}

static uint64_t
digest_of_empty(void)
{
	struct lock_table_config c = cfg_big();
	struct fix f;
	uint64_t d;

	fix_init(&f, &c, c.locks_max);
	d = lock_table_digest(f.lt);
	fix_fini(&f);
	return d;
}

/* CRC-32C as docs/snapshot.md defines the trailer: an independent
 * implementation (bit by bit, RFC 3720), so a test can forge a snapshot
 * that passes the check. */
static void
fix_checksum(uint8_t *buf, size_t len)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	unsigned k;

	assert_true(len >= 4);
	for (i = 0; i < len - 4; i++) {
		crc ^= buf[i];
		for (k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
	}
	crc = ~crc;
	for (i = 0; i < 4; i++)
		buf[len - 4 + i] = (uint8_t)(crc >> (24 - 8 * i));
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A busy table from seed @seed: the source of most tests. */
static void
build(struct fix *f, struct gen *g, uint64_t seed, unsigned steps)
{
	struct lock_table_config c = cfg_big();
	struct lock_table_gauges gg;

	fix_init(f, &c, c.locks_max);
	gen_init(g, seed);
	drive(g, f, NULL, steps);
	lock_table_check_invariants(f->lt);
	lock_table_gauges(f->lt, &gg);
	/* The state is worth saving: every kind of record is there. */
	assert_true(gg.locks > 20);
	assert_true(gg.holders > gg.locks);
	assert_true(gg.waiters > 5);
	assert_true(gg.sessions > 3);
	assert_true(lock_table_counters(f->lt)->grants_shared > 10);
	assert_true(lock_table_counters(f->lt)->dedup_hits > 10);
}

/* ---- tests ---- */

static void
test_empty_round_trip(void **state)
{
	struct lock_table_config c = cfg_big();
	struct fix a, b;
	struct gen g;
	uint8_t buf[256];
	uint8_t again[256];
	int64_t n;

	(void)state;
	fix_init(&a, &c, c.locks_max);
	fix_init(&b, &c, c.locks_max);
	n = lock_table_save(a.lt, buf, sizeof(buf));
	assert_int_equal(n, (int64_t)lock_table_save_size(a.lt));
	assert_int_equal(n, 64);
	assert_int_equal(lock_table_load(b.lt, buf, (size_t)n), 0);
	lock_table_check_invariants(b.lt);
	assert_int_equal(lock_table_digest(a.lt), lock_table_digest(b.lt));
	assert_int_equal(lock_table_save(b.lt, again, sizeof(again)), n);
	assert_memory_equal(buf, again, (size_t)n);
	/* The header names format and version (docs/snapshot.md). */
	assert_memory_equal(buf, "LTSN", 4);
	assert_int_equal(buf[4] << 8 | buf[5], LOCK_SNAPSHOT_VERSION);
	gen_init(&g, 7);
	drive(&g, &a, &b, 1500);
	fix_fini(&a);
	fix_fini(&b);
}

/*
 * The property, on tables from several seeds: save, load elsewhere (in
 * chunks), then both tables take the same further entries and do the
 * same. The loaded table's own snapshot is the same bytes.
 */
static void
test_random_round_trip(void **state)
{
	static const uint64_t seeds[] = {1, 2, 3, 0xdecafbad};
	static const size_t chunks[] = {1, 13, 1024, 1u << 20};
	unsigned k;

	(void)state;
	for (k = 0; k < sizeof(seeds) / sizeof(seeds[0]); k++) {
		struct lock_table_config c = cfg_big();
		struct fix a, b;
		struct gen g;
		uint8_t *snap, *again;
		size_t len, len2;

		build(&a, &g, seeds[k], 4000);
		snap = save_all(a.lt, chunks[k], &len);
		fix_init(&b, &c, c.locks_max);
		if (k % 2 == 1) {
			/* b has a state of its own first: a load replaces
			 * it (and its index hands out other slots). */
			struct gen other;

			gen_init(&other, seeds[k] + 100);
			drive(&other, &b, NULL, 300);
		}
		assert_int_equal(
			load_chunked(b.lt, snap, len, chunks[(k + 1) % 4]), 0);
		lock_table_check_invariants(b.lt);
		assert_int_equal(lock_table_digest(a.lt),
				 lock_table_digest(b.lt));
		assert_int_equal(lock_table_token_last(a.lt),
				 lock_table_token_last(b.lt));
		again = save_all(b.lt, 4096, &len2);
		assert_int_equal(len, len2);
		/* A fresh index gives slots in load order: same bytes. */
		if (k % 2 == 0)
			assert_memory_equal(snap, again, len);
		drive(&g, &a, &b, 3000);
		free(snap);
		free(again);
		fix_fini(&a);
		fix_fini(&b);
	}
}

/* Any chunk size, from 1 byte, saves the same bytes and loads them. */
static void
test_chunk_sizes(void **state)
{
	struct lock_table_config c = cfg_big();
	struct fix a, b;
	struct gen g;
	uint8_t *whole;
	size_t len, chunk;
	int64_t n;

	(void)state;
	build(&a, &g, 11, 2500);
	len = (size_t)lock_table_save_size(a.lt);
	whole = malloc(len);
	assert_non_null(whole);
	n = lock_table_save(a.lt, whole, len);
	assert_int_equal(n, (int64_t)len);
	/* One byte short does not fit. */
	assert_int_equal(lock_table_save(a.lt, whole, len - 1), -ENOSPC);
	assert_int_equal(lock_table_save(a.lt, whole, len), (int64_t)len);
	fix_init(&b, &c, c.locks_max);
	for (chunk = 1; chunk < 2 * LOCK_SNAPSHOT_RECORD_MAX + 3; chunk++) {
		size_t got;
		uint8_t *snap = save_all(a.lt, chunk, &got);

		assert_int_equal(got, len);
		assert_memory_equal(snap, whole, len);
		free(snap);
		assert_int_equal(load_chunked(b.lt, whole, len, chunk), 0);
		assert_int_equal(lock_table_digest(a.lt),
				 lock_table_digest(b.lt));
	}
	lock_table_check_invariants(b.lt);
	drive(&g, &a, &b, 1000);
	free(whole);
	fix_fini(&a);
	fix_fini(&b);
}

/* Every cut-short snapshot is refused and leaves the table empty. */
static void
test_truncated(void **state)
{
	struct lock_table_config c = cfg_big();
	uint64_t empty = digest_of_empty();
	struct fix a, b;
	struct gen g;
	uint8_t *snap;
	size_t len, cut;

	(void)state;
	build(&a, &g, 21, 2500);
	snap = save_all(a.lt, 4096, &len);
	fix_init(&b, &c, c.locks_max);
	for (cut = 0; cut < len; cut += cut < 400 ? 1 : 37) {
		assert_int_equal(load_chunked(b.lt, snap, cut, 1 + cut % 50),
				 -EINVAL);
		assert_empty(&b, empty);
	}
	/* Bytes after the end are refused too. */
	{
		uint8_t *longer = malloc(len + 1);

		assert_non_null(longer);
		memcpy(longer, snap, len);
		longer[len] = 0;
		assert_int_equal(lock_table_load(b.lt, longer, len + 1),
				 -EINVAL);
		assert_empty(&b, empty);
		free(longer);
	}
	/* The table is usable after a refusal. */
	assert_int_equal(lock_table_load(b.lt, snap, len), 0);
	assert_int_equal(lock_table_digest(a.lt), lock_table_digest(b.lt));
	drive(&g, &a, &b, 500);
	free(snap);
	fix_fini(&a);
	fix_fini(&b);
}

/*
 * Flipped bytes: refused by the checksum. With the checksum forged to
 * match, the field checks must hold the line: the load is refused (table
 * empty) or gives a consistent table that keeps working.
 */
static void
test_corrupted(void **state)
{
	struct lock_table_config c = cfg_big();
	uint64_t empty = digest_of_empty();
	struct fix a, b;
	struct gen g;
	uint8_t *snap, *bad;
	size_t len, pos;
	unsigned refused = 0, accepted = 0;
	uint64_t rng = 0x2545f4914f6cdd1dull; /* fixed seed */

	(void)state;
	build(&a, &g, 31, 1500);
	snap = save_all(a.lt, 4096, &len);
	bad = malloc(len);
	assert_non_null(bad);
	fix_init(&b, &c, c.locks_max);
	for (pos = 0; pos < len; pos += 1 + pos / 64) {
		uint8_t flip;
		int err;

		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		flip = (uint8_t)(1u << (rng % 8));
		if (rng % 3 == 0)
			flip = 0xff;
		memcpy(bad, snap, len);
		bad[pos] ^= flip;
		err = load_chunked(b.lt, bad, len, 1 + pos % 200);
		/* Counts too big for the pools fail before the checksum. */
		assert_true(err == -EINVAL || (err == -ENOSPC && pos < 60));
		assert_empty(&b, empty);

		if (pos >= len - 4)
			continue;
		fix_checksum(bad, len);
		err = load_chunked(b.lt, bad, len, 1 + pos % 200);
		lock_table_check_invariants(b.lt);
		if (err != 0) {
			assert_true(err == -EINVAL || err == -ENOSPC);
			assert_empty(&b, empty);
			refused++;
		} else {
			struct gen g2;

			/* A valid state that differs: it must keep working. */
			accepted++;
			gen_init(&g2, pos);
			drive(&g2, &b, NULL, 50);
			lock_table_check_invariants(b.lt);
		}
	}
	/* Both kinds happened: the checks refuse some, allow others. */
	assert_true(refused > 10);
	assert_true(accepted > 10);
	free(bad);
	free(snap);
	fix_fini(&a);
	fix_fini(&b);
}

/* Forged headers and lengths, each with a valid checksum. */
static void
test_bad_fields(void **state)
{
	struct lock_table_config c = cfg_big();
	uint64_t empty = digest_of_empty();
	struct fix a, b;
	struct gen g;
	uint8_t *snap, *bad;
	size_t len;
	struct {
		size_t off;
		uint32_t v32;
		int err;
	} cases[] = {
		{0, 0x4c54534f, -EINVAL},  /* magic */
		{4, 0x00010000, -EINVAL},  /* version 1 (FNV trailer) */
		{4, 0x00030000, -EINVAL},  /* version 3 */
		{4, 0x00020001, -EINVAL},  /* reserved bits */
		{12, 4001, -EINVAL},       /* lease_max_ms differs */
		{28, 6001, -EINVAL},       /* session_max_ms differs */
		{40, 0xffffffff, -ENOSPC}, /* locks */
		{44, 0xffffffff, -ENOSPC}, /* holders */
		{48, 0xffffffff, -ENOSPC}, /* waiters */
		{52, 0xffffffff, -ENOSPC}, /* sessions */
		{56, 0xffffffff, -ENOSPC}, /* dedup */
		{44, 0, -EINVAL},          /* fewer holders than locks */
		{60, 0x00000001, -EINVAL}, /* key_len 0, then bytes */
		{60, 0x00410000, -EINVAL}, /* key_len LATCH_KEY_MAX + 1 */
	};
	unsigned k;

	(void)state;
	build(&a, &g, 41, 1500);
	snap = save_all(a.lt, 4096, &len);
	bad = malloc(len);
	assert_non_null(bad);
	fix_init(&b, &c, c.locks_max);
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		uint8_t key_len_hi;

		memcpy(bad, snap, len);
		if (cases[k].off == 60) {
			/* The first lock's key_len, a u16. */
			key_len_hi = (uint8_t)(cases[k].v32 >> 24);
			bad[60] = key_len_hi;
			bad[61] = (uint8_t)(cases[k].v32 >> 16);
		} else {
			put32(bad + cases[k].off, cases[k].v32);
		}
		fix_checksum(bad, len);
		assert_int_equal(lock_table_load(b.lt, bad, len), cases[k].err);
		assert_empty(&b, empty);
	}
	/* A lock claiming more holders than the header has. */
	{
		uint16_t key_len = (uint16_t)(snap[60] << 8 | snap[61]);

		memcpy(bad, snap, len);
		put32(bad + 62 + key_len + 1, 0x7fffffff);
		fix_checksum(bad, len);
		assert_int_equal(lock_table_load(b.lt, bad, len), -EINVAL);
		assert_empty(&b, empty);
		/* ...or a mode that is neither exclusive nor shared. */
		memcpy(bad, snap, len);
		bad[62 + key_len] = 2;
		fix_checksum(bad, len);
		assert_int_equal(lock_table_load(b.lt, bad, len), -EINVAL);
		assert_empty(&b, empty);
	}
	/* Garbage of every length up to a header and a bit. */
	for (k = 0; k < 80; k++) {
		memset(bad, (int)k, k);
		assert_int_equal(lock_table_load(b.lt, bad, k), -EINVAL);
		assert_empty(&b, empty);
	}
	free(bad);
	free(snap);
	fix_fini(&a);
	fix_fini(&b);
}

/* A table too small for the snapshot refuses it with -ENOSPC. */
static void
test_small_pools(void **state)
{
	struct fix a;
	struct gen g;
	struct lock_table_gauges gg;
	uint8_t *snap;
	size_t len;
	unsigned k;

	(void)state;
	build(&a, &g, 51, 2500);
	snap = save_all(a.lt, 4096, &len);
	lock_table_gauges(a.lt, &gg);
	for (k = 0; k < 6; k++) {
		struct lock_table_config c = cfg_big();
		uint32_t index_slots = c.locks_max;
		struct fix b;
		struct gen other;

		switch (k) {
		case 0:
			c.locks_max = gg.locks - 1;
			index_slots = c.locks_max;
			break;
		case 1:
			/* Holders and waiters share one request pool. */
			c.waiters_max = gg.waiters;
			c.holders_max = gg.holders - 1;
			break;
		case 2:
			c.waiters_max = gg.waiters - 1;
			break;
		case 3:
			c.sessions_max = gg.sessions - 1;
			break;
		case 4:
			c.dedup_max = 3;
			break;
		default:
			/* The key index is the one that is full. */
			index_slots = gg.locks - 1;
			break;
		}
		fix_init(&b, &c, index_slots);
		gen_init(&other, 99);
		drive(&other, &b, NULL, 200);
		assert_int_equal(load_chunked(b.lt, snap, len, 100), -ENOSPC);
		lock_table_check_invariants(b.lt);
		assert_int_equal(key_index_count(b.ki), 0);
		lock_table_gauges(b.lt, &gg);
		assert_int_equal(
			gg.locks + gg.holders + gg.waiters + gg.sessions, 0);
		assert_int_equal(lock_table_token_last(b.lt), 0);
		lock_table_gauges(a.lt, &gg);
		fix_fini(&b);
	}
	free(snap);
	fix_fini(&a);
}

/*
 * Waiters are granted in place, so a shared batch grant from the queue
 * takes holders above holders_max. Such a table's snapshot loads into a
 * table of the same configuration (it used to be refused with -ENOSPC),
 * and the loaded table goes on alike.
 */
static void
test_holders_above_max(void **state)
{
	struct lock_table_config c = cfg_big();
	struct lock_table_gauges gg;
	struct fix a, b;
	struct gen g;
	struct lock_entry e;
	uint8_t *snap;
	uint64_t tok;
	size_t len;
	unsigned i;

	(void)state;
	c.holders_max = 2;
	c.waiters_max = 4;
	fix_init(&a, &c, c.locks_max);
	fix_init(&b, &c, c.locks_max);
	gen_init(&g, 7);
	/* Client 1 holds "k" exclusively; four shared waiters queue. */
	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_ACQUIRE;
	e.client_id = 1;
	e.request_id = 1;
	e.now_ms = g.now;
	e.term = g.term;
	assert_int_equal(lock_key_set(&e.key, "k", 1), 0);
	apply_both(&g, &a, NULL, &e);
	assert_int_equal(log_a.fx[0].status, LATCH_S_OK);
	tok = log_a.fx[0].token;
	for (i = 0; i < 4; i++) {
		e.client_id = 10 + i;
		e.request_id = 1;
		e.flags = LATCH_F_SHARED | LATCH_F_WAIT;
		apply_both(&g, &a, NULL, &e);
		assert_int_equal(log_a.fx[0].status, LATCH_S_QUEUED);
	}
	/* The release grants all four at once, in place. */
	memset(&e, 0, sizeof(e));
	e.op = LOCK_E_RELEASE;
	e.client_id = 1;
	e.request_id = 2;
	e.token = tok;
	e.now_ms = g.now;
	e.term = g.term;
	assert_int_equal(lock_key_set(&e.key, "k", 1), 0);
	apply_both(&g, &a, NULL, &e);
	lock_table_check_invariants(a.lt);
	lock_table_gauges(a.lt, &gg);
	assert_int_equal(gg.holders, 4);
	assert_true(gg.holders > c.holders_max);

	snap = save_all(a.lt, 7, &len);
	assert_int_equal(load_chunked(b.lt, snap, len, 13), 0);
	lock_table_check_invariants(b.lt);
	assert_int_equal(lock_table_digest(a.lt), lock_table_digest(b.lt));
	/* Both go on alike, timers included. */
	drive(&g, &a, &b, 300);
	free(snap);
	fix_fini(&a);
	fix_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_round_trip),
		cmocka_unit_test(test_random_round_trip),
		cmocka_unit_test(test_chunk_sizes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_small_pools),
		cmocka_unit_test(test_holders_above_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
