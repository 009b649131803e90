/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the per-worker flow table (dataplane/conntrack.c): lookup
 * and insert, idle expiry, eviction from a full window, the probe bound,
 * and Maglev's rule that a flow is kept only on a backend still in the
 * pool and up. Hashes are chosen by the tests (conntrack takes the hash
 * from its caller), so collisions are made on purpose.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dataplane/conntrack.h"

/* Identities of backends A..E (any non-zero values). */
#define ID_A    0xa1a1a1a1a1a1a1a1ull
#define ID_B    0xb2b2b2b2b2b2b2b2ull
#define ID_C    0xc3c3c3c3c3c3c3c3ull
#define ID_D    0xd4d4d4d4d4d4d4d4ull
#define ID_E    0xe5e5e5e5e5e5e5e5ull

#define IDLE_MS 1000u

/* Flow @n: 198.51.100.7:(1000 + n) -> 192.0.2.10:9000, UDP. */
static struct conntrack_key
flow(uint16_t n)
{
	struct conntrack_key k;

	memset(&k, 0, sizeof(k));
	k.src_ip_be = 0x07643300u + n / 60000u; /* bytes 0,51,100,7 */
	k.dst_ip_be = 0x0a0200c0u;
	k.src_port_be = (uint16_t)(1000 + n % 60000u);
	k.dst_port_be = 9000;
	k.proto = 17;
	return k;
}

static uint16_t
flow_go(struct conntrack *ct, uint16_t n, uint64_t hash, uint64_t now_ms,
	const struct conntrack_pool *pool, uint16_t fresh,
	enum conntrack_verdict *v)
{
	struct conntrack_key k = flow(n);

	return conntrack_flow(ct, &k, hash, now_ms, IDLE_MS, pool, fresh, v);
}

static bool
flow_known(const struct conntrack *ct, uint16_t n, uint64_t hash,
	   uint64_t now_ms)
{
	struct conntrack_key k = flow(n);

	return conntrack_find(ct, &k, hash, now_ms) != NULL;
}

static void
test_create(void **state)
{
	struct conntrack *ct;

	(void)state;
	errno = 0;
	assert_null(conntrack_create(0));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(conntrack_create(CONNTRACK_ENTRIES_MAX + 1));
	assert_int_equal(errno, EINVAL);
	ct = conntrack_create(1000);
	assert_non_null(ct);
	assert_int_equal(ct->entries, 1024);
	assert_int_equal(ct->mask, 1023);
	assert_int_equal(conntrack_live(ct, 0), 0);
	conntrack_destroy(ct);
	ct = conntrack_create(1);
	assert_non_null(ct);
	assert_int_equal(ct->entries, CONNTRACK_ENTRIES_MIN);
	conntrack_destroy(ct);
	assert_true(conntrack_bytes(1024) >=
		    1024 * sizeof(struct conntrack_entry));
}

/* A new flow takes Maglev's choice; later packets keep it even when
 * Maglev's choice changes (the pool changed under it). */
static void
test_new_then_hit(void **state)
{
	const uint64_t ids[] = {ID_A, ID_B, ID_C};
	const struct conntrack_pool pool = {ids, 3};
	struct conntrack *ct = conntrack_create(256);
	enum conntrack_verdict v;
	const struct conntrack_entry *e;
	struct conntrack_key k = flow(1);

	(void)state;
	assert_non_null(ct);
	assert_false(flow_known(ct, 1, 77, 10));
	assert_int_equal(flow_go(ct, 1, 77, 10, &pool, 1, &v), 1);
	assert_int_equal(v, CONNTRACK_NEW);
	e = conntrack_find(ct, &k, 77, 10);
	assert_non_null(e);
	assert_true(e->backend_id == ID_B);
	assert_true(e->expires_ms == 10 + IDLE_MS);
	/* Maglev now says C: the flow stays on B. */
	assert_int_equal(flow_go(ct, 1, 77, 20, &pool, 2, &v), 1);
	assert_int_equal(v, CONNTRACK_HIT);
	assert_int_equal(flow_go(ct, 1, 77, 30, &pool, 0, &v), 1);
	assert_int_equal(v, CONNTRACK_HIT);
	/* Another flow in the same window is its own entry. */
	assert_int_equal(flow_go(ct, 2, 77, 30, &pool, 2, &v), 2);
	assert_int_equal(v, CONNTRACK_NEW);
	assert_int_equal(flow_go(ct, 1, 77, 40, &pool, 2, &v), 1);
	assert_int_equal(flow_go(ct, 2, 77, 40, &pool, 0, &v), 2);
	assert_int_equal(conntrack_live(ct, 40), 2);
	assert_int_equal(ct->counters.misses, 2);
	assert_int_equal(ct->counters.hits, 4);
	assert_int_equal(ct->counters.moved, 0);
	assert_int_equal(ct->counters.evictions, 0);
	assert_int_equal(ct->counters.expired, 0);
	conntrack_destroy(ct);
}

/* An entry lives idle_ms after its last packet, then is forgotten. */
static void
test_expiry(void **state)
{
	const uint64_t ids[] = {ID_A, ID_B};
	const struct conntrack_pool pool = {ids, 2};
	struct conntrack *ct = conntrack_create(64);
	enum conntrack_verdict v;

	(void)state;
	assert_non_null(ct);
	assert_int_equal(flow_go(ct, 5, 3, 1000, &pool, 0, &v), 0);
	/* Each packet pushes the deadline: 1000 + 900 + 900 > 1000 + idle. */
	assert_int_equal(flow_go(ct, 5, 3, 1900, &pool, 1, &v), 0);
	assert_int_equal(v, CONNTRACK_HIT);
	assert_int_equal(flow_go(ct, 5, 3, 2800, &pool, 1, &v), 0);
	assert_int_equal(v, CONNTRACK_HIT);
	assert_true(flow_known(ct, 5, 3, 2800 + IDLE_MS - 1));
	assert_false(flow_known(ct, 5, 3, 2800 + IDLE_MS));
	assert_int_equal(conntrack_live(ct, 2800 + IDLE_MS), 0);
	/* Back after its idle time: a new flow, Maglev's choice now. */
	assert_int_equal(flow_go(ct, 5, 3, 2800 + IDLE_MS, &pool, 1, &v), 1);
	assert_int_equal(v, CONNTRACK_NEW);
	assert_int_equal(ct->counters.expired, 1);
	assert_int_equal(ct->counters.misses, 2);
	assert_int_equal(ct->counters.hits, 2);
	assert_int_equal(conntrack_live(ct, 2800 + IDLE_MS), 1);
	conntrack_destroy(ct);
}

/* Every used slot of @ct lies in the window of @hash. */
static void
assert_in_window(const struct conntrack *ct, uint64_t hash)
{
	uint32_t i, dist;

	for (i = 0; i < ct->entries; i++) {
		if (ct->slot[i].backend_id == CONNTRACK_ID_NONE)
			continue;
		dist = (i - (uint32_t)hash) & ct->mask;
		assert_true(dist < CONNTRACK_PROBE_MAX);
	}
}

/*
 * Flows that share a hash fill one window and no more; the next one
 * evicts the flow closest to its deadline, and the others stay.
 * hash = entries - 3: the window wraps around the end of the table.
 */
static void
test_full_window_evicts_oldest(void **state)
{
	const uint64_t ids[] = {ID_A, ID_B, ID_C};
	const struct conntrack_pool pool = {ids, 3};
	struct conntrack *ct = conntrack_create(64);
	enum conntrack_verdict v;
	uint64_t hash;
	uint16_t n;

	(void)state;
	assert_non_null(ct);
	hash = ct->entries - 3;
	for (n = 0; n < CONNTRACK_PROBE_MAX; n++) {
		flow_go(ct, n, hash, 100 + n, &pool, n % 3, &v);
		assert_int_equal(v, CONNTRACK_NEW);
	}
	assert_int_equal(conntrack_live(ct, 200), CONNTRACK_PROBE_MAX);
	assert_int_equal(ct->counters.evictions, 0);
	assert_in_window(ct, hash);
	/* Flow 0 is the oldest; touch it so flow 1 is the oldest now. */
	flow_go(ct, 0, hash, 200, &pool, 2, &v);
	assert_int_equal(v, CONNTRACK_HIT);
	flow_go(ct, 50, hash, 201, &pool, 1, &v);
	assert_int_equal(v, CONNTRACK_NEW);
	assert_int_equal(ct->counters.evictions, 1);
	assert_int_equal(ct->counters.expired, 0);
	assert_false(flow_known(ct, 1, hash, 201));
	assert_true(flow_known(ct, 0, hash, 201));
	assert_true(flow_known(ct, 50, hash, 201));
	for (n = 2; n < CONNTRACK_PROBE_MAX; n++)
		assert_true(flow_known(ct, n, hash, 201));
	/* Never more than a window, never outside it. */
	assert_int_equal(conntrack_live(ct, 201), CONNTRACK_PROBE_MAX);
	assert_in_window(ct, hash);
	/* A flow of another window is untouched by all this. */
	flow_go(ct, 60, hash + 20, 201, &pool, 0, &v);
	assert_int_equal(v, CONNTRACK_NEW);
	assert_int_equal(ct->counters.evictions, 1);
	conntrack_destroy(ct);
}

/* In a full window, an idle entry is reused before a live one is evicted. */
static void
test_full_window_reuses_expired(void **state)
{
	const uint64_t ids[] = {ID_A, ID_B};
	const struct conntrack_pool pool = {ids, 2};
	struct conntrack *ct = conntrack_create(64);
	enum conntrack_verdict v;
	uint16_t n;

	(void)state;
	assert_non_null(ct);
	for (n = 0; n < CONNTRACK_PROBE_MAX; n++)
		flow_go(ct, n, 9, 0, &pool, 0, &v);
	/* Flow 3 stays busy; the others go idle. */
	flow_go(ct, 3, 9, IDLE_MS - 10, &pool, 0, &v);
	assert_int_equal(v, CONNTRACK_HIT);
	flow_go(ct, 40, 9, IDLE_MS + 5, &pool, 1, &v);
	assert_int_equal(v, CONNTRACK_NEW);
	assert_int_equal(ct->counters.evictions, 0);
	assert_int_equal(ct->counters.expired, 1);
	assert_true(flow_known(ct, 3, 9, IDLE_MS + 5));
	assert_true(flow_known(ct, 40, 9, IDLE_MS + 5));
	assert_int_equal(conntrack_live(ct, IDLE_MS + 5), 2);
	conntrack_destroy(ct);
}

/*
 * Maglev's rule: a flow whose backend was removed from the pool goes
 * where Maglev sends it now, and then stays there.
 */
static void
test_removed_backend_moves(void **state)
{
	const uint64_t before[] = {ID_A, ID_B, ID_C};
	const uint64_t after[] = {ID_A, ID_C}; /* B removed */
	const struct conntrack_pool p0 = {before, 3}, p1 = {after, 2};
	struct conntrack *ct = conntrack_create(128);
	enum conntrack_verdict v;
	const struct conntrack_entry *e;
	struct conntrack_key k = flow(7);

	(void)state;
	assert_non_null(ct);
	assert_int_equal(flow_go(ct, 7, 42, 0, &p0, 1, &v), 1); /* B */
	assert_int_equal(flow_go(ct, 8, 43, 0, &p0, 2, &v), 2); /* C */
	/* After the swap Maglev says A (index 0) for flow 7. */
	assert_int_equal(flow_go(ct, 7, 42, 10, &p1, 0, &v), 0);
	assert_int_equal(v, CONNTRACK_MOVED);
	e = conntrack_find(ct, &k, 42, 10);
	assert_non_null(e);
	assert_true(e->backend_id == ID_A);
	/* And it stays on A when Maglev's choice changes again. */
	assert_int_equal(flow_go(ct, 7, 42, 20, &p1, 1, &v), 0);
	assert_int_equal(v, CONNTRACK_HIT);
	/* Flow 8 keeps C, whose index went from 2 to 1. */
	assert_int_equal(flow_go(ct, 8, 43, 20, &p1, 0, &v), 1);
	assert_int_equal(v, CONNTRACK_HIT);
	assert_int_equal(ct->counters.moved, 1);
	assert_int_equal(ct->counters.misses, 2);
	assert_int_equal(ct->counters.hits, 2);
	conntrack_destroy(ct);
}

/* A backend marked down (identity NONE in the pool) loses its flows too;
 * one that comes back up does not take them back. */
static void
test_down_backend_moves(void **state)
{
	const uint64_t up[] = {ID_A, ID_B, ID_C};
	const uint64_t b_down[] = {ID_A, CONNTRACK_ID_NONE, ID_C};
	const struct conntrack_pool p_up = {up, 3}, p_down = {b_down, 3};
	struct conntrack *ct = conntrack_create(128);
	enum conntrack_verdict v;

	(void)state;
	assert_non_null(ct);
	assert_int_equal(flow_go(ct, 1, 5, 0, &p_up, 1, &v), 1);
	assert_int_equal(flow_go(ct, 1, 5, 1, &p_down, 2, &v), 2);
	assert_int_equal(v, CONNTRACK_MOVED);
	assert_int_equal(flow_go(ct, 1, 5, 2, &p_up, 1, &v), 2);
	assert_int_equal(v, CONNTRACK_HIT);
	assert_int_equal(ct->counters.moved, 1);
	conntrack_destroy(ct);
}

/* The entry names its backend by identity: a pool listed in another
 * order, with new members, still finds it. */
static void
test_identity_not_index(void **state)
{
	const uint64_t before[] = {ID_A, ID_B, ID_C};
	const uint64_t after[] = {ID_D, ID_C, ID_E, ID_A, ID_B};
	const struct conntrack_pool p0 = {before, 3}, p1 = {after, 5};
	struct conntrack *ct = conntrack_create(128);
	enum conntrack_verdict v;
	uint16_t n;

	(void)state;
	assert_non_null(ct);
	for (n = 0; n < 3; n++)
		assert_int_equal(flow_go(ct, n, n * 11u, 0, &p0, n, &v), n);
	/* A -> 3, B -> 4, C -> 1 in the new pool; Maglev says D for all. */
	assert_int_equal(flow_go(ct, 0, 0, 5, &p1, 0, &v), 3);
	assert_int_equal(v, CONNTRACK_HIT);
	assert_int_equal(flow_go(ct, 1, 11, 5, &p1, 0, &v), 4);
	assert_int_equal(v, CONNTRACK_HIT);
	assert_int_equal(flow_go(ct, 2, 22, 5, &p1, 0, &v), 1);
	assert_int_equal(v, CONNTRACK_HIT);
	assert_int_equal(ct->counters.moved, 0);
	conntrack_destroy(ct);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_new_then_hit),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_full_window_evicts_oldest),
		cmocka_unit_test(test_full_window_reuses_expired),
		cmocka_unit_test(test_removed_backend_moves),
		cmocka_unit_test(test_down_backend_moves),
		cmocka_unit_test(test_identity_not_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
