/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the Maglev builder (dataplane/maglev.c) and the shard map
 * built on it (dataplane/shard_map.c): balance, weights, disruption on the
 * removal of one backend (measured, bound documented in docs/routing.md),
 * independence from insertion order, validation of M and of backends.
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

#include "dataplane/maglev.h"
#include "dataplane/shard_map.h"

#define M MAGLEV_SIZE_DEFAULT
/* Most backends of a default-size table: M > 100 x N. */
#define N_MAX 655
/* Identity buffer: "backend-" and up to 5 digits. */
#define ID_LEN_MAX 16

/*
 * Extra disruption: when one of N backends is removed, the share of the
 * OTHER backends' entries that change owner. Measured with M = 65537 and
 * identities "backend-<i>", removing up to 20 different backends for each
 * N (worst case over them):
 *
 *   N      3      5      10     20     50     100    200    400    600
 *   worst  0.06%  0.15%  0.33%  0.59%  0.50%  0.60%  0.77%  1.01%  0.86%
 *
 * It grows slowly with N (the paper's figure 12 shows the same trend) and
 * stays near 1 % at M/N = 100. We assert 1.5 %: the worst seen plus a
 * margin, so a builder that breaks the permutation order (e.g. filling in
 * insertion order or re-seeding per build) fails, while the fixed inputs
 * here keep the measurement exactly reproducible.
 */
#define EXTRA_DISRUPTION_MAX 0.015

struct pool {
	uint8_t ids[N_MAX][ID_LEN_MAX];
	struct maglev_backend be[N_MAX];
};

static struct pool pool;

/* Fill pool.be[0..n) with identities "backend-<i>", weight 1. */
static void
pool_fill(uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		int len = snprintf((char *)pool.ids[i], ID_LEN_MAX,
				   "backend-%u", i);
		pool.be[i].id = pool.ids[i];
		pool.be[i].id_len = (uint16_t)len;
		pool.be[i].weight = 1;
	}
}

/* splitmix64 (Steele, Lea, Flood 2014): fixed seeds, reproducible. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void
count_entries(const struct maglev_table *t, uint32_t *counts, uint32_t n)
{
	uint32_t i;

	memset(counts, 0, n * sizeof(*counts));
	for (i = 0; i < t->size; i++) {
		assert_true(t->entry[i] < n);
		counts[t->entry[i]]++;
	}
}

static struct maglev_table *
build(struct maglev_builder *b, const struct maglev_backend *be, uint32_t n,
      uint32_t size)
{
	struct maglev_table *t = maglev_table_create(size);
	const char *why = NULL;

	assert_non_null(t);
	assert_int_equal(maglev_build(b, t, be, n, &why), 0);
	return t;
}

static void
test_balance(void **state)
{
	static const uint32_t ns[] = {3, 10, 100};
	struct maglev_builder *b = maglev_builder_create(N_MAX);
	uint32_t counts[N_MAX];
	size_t k;

	assert_non_null(b);
	for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		uint32_t n = ns[k], i;
		double mean = (double)M / n;
		struct maglev_table *t;

		pool_fill(n);
		t = build(b, pool.be, n, M);
		assert_int_equal(t->backends, n);
		count_entries(t, counts, n);
		for (i = 0; i < n; i++) {
			double dev = ((double)counts[i] - mean) / mean;

			assert_true(dev < 0.01 && dev > -0.01);
		}
		maglev_table_destroy(t);
	}
	maglev_builder_destroy(b);
}

static void
test_weights(void **state)
{
	struct maglev_builder *b = maglev_builder_create(N_MAX);
	uint32_t counts[N_MAX], n = 10, i, turns = 0;
	struct maglev_table *t;

	assert_non_null(b);
	pool_fill(n);
	pool.be[3].weight = 2;
	pool.be[7].weight = 3;
	for (i = 0; i < n; i++)
		turns += pool.be[i].weight;
	t = build(b, pool.be, n, M);
	count_entries(t, counts, n);
	for (i = 0; i < n; i++) {
		double want = (double)M * pool.be[i].weight / turns;
		double dev = ((double)counts[i] - want) / want;

		assert_true(dev < 0.01 && dev > -0.01);
	}
	/* The weight-2 backend holds about twice a weight-1 backend. */
	assert_true(counts[3] > 2 * counts[0] - 20 &&
		    counts[3] < 2 * counts[0] + 20);
	maglev_table_destroy(t);
	maglev_builder_destroy(b);
}

/*
 * Remove (weight 0) each of up to 20 backends in turn; every entry of the
 * removed one must move, and at most EXTRA_DISRUPTION_MAX of the others.
 */
static void
test_disruption(void **state)
{
	static const uint32_t ns[] = {3, 5, 10, 20, 50, 100, 200, 400, 600};
	struct maglev_builder *b = maglev_builder_create(N_MAX);
	struct maglev_table *after = maglev_table_create(M);
	const char *why = NULL;
	size_t k;

	assert_non_null(b);
	assert_non_null(after);
	for (k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		uint32_t n = ns[k], r;
		struct maglev_table *before;
		double worst = 0;

		pool_fill(n);
		before = build(b, pool.be, n, M);
		for (r = 0; r < n && r < 20; r++) {
			uint32_t gone = (r * 7919u) % n, s, moved = 0;
			uint32_t others = 0;
			double extra;

			pool.be[gone].weight = 0;
			assert_int_equal(
				maglev_build(b, after, pool.be, n, &why), 0);
			pool.be[gone].weight = 1;
			assert_int_equal(after->backends, n - 1);
			for (s = 0; s < M; s++) {
				assert_int_not_equal(after->entry[s], gone);
				if (before->entry[s] == gone)
					continue;
				others++;
				if (after->entry[s] != before->entry[s])
					moved++;
			}
			extra = (double)moved / others;
			if (extra > worst)
				worst = extra;
		}
		print_message("maglev disruption N=%u: worst extra %.4f\n", n,
			      worst);
		assert_true(worst <= EXTRA_DISRUPTION_MAX);
		maglev_table_destroy(before);
	}
	maglev_table_destroy(after);
	maglev_builder_destroy(b);
}

/* A backend at weight 0 is the same as a backend not listed at all. */
static void
test_weight_zero_is_removal(void **state)
{
	struct maglev_builder *b = maglev_builder_create(N_MAX);
	struct maglev_table *listed, *absent;
	uint32_t n = 10, s;

	assert_non_null(b);
	pool_fill(n);
	/* Removing the last listed one keeps the indexes of the others. */
	pool.be[n - 1].weight = 0;
	listed = build(b, pool.be, n, M);
	absent = build(b, pool.be, n - 1, M);
	for (s = 0; s < M; s++)
		assert_int_equal(listed->entry[s], absent->entry[s]);
	maglev_table_destroy(listed);
	maglev_table_destroy(absent);
	maglev_builder_destroy(b);
}

/* Shuffle pool.be (with weights) by a seeded Fisher-Yates. */
static void
shuffle(struct maglev_backend *be, uint32_t n, uint64_t seed)
{
	uint32_t i;

	for (i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng_next(&seed) % (i + 1));
		struct maglev_backend tmp = be[i];

		be[i] = be[j];
		be[j] = tmp;
	}
}

static void
test_determinism(void **state)
{
	static struct maglev_backend shuffled[N_MAX];
	struct maglev_builder *b = maglev_builder_create(N_MAX);
	struct maglev_table *ref, *t;
	uint32_t n = 50, i, s;
	uint64_t seed;

	assert_non_null(b);
	pool_fill(n);
	for (i = 0; i < n; i++)
		pool.be[i].weight = (uint16_t)(1 + i % 3);
	ref = build(b, pool.be, n, M);
	t = maglev_table_create(M);
	assert_non_null(t);
	for (seed = 1; seed <= 8; seed++) {
		const char *why = NULL;

		memcpy(shuffled, pool.be, n * sizeof(shuffled[0]));
		shuffle(shuffled, n, seed);
		assert_int_equal(maglev_build(b, t, shuffled, n, &why), 0);
		/* Same owner identity in every slot. */
		for (s = 0; s < M; s++) {
			const struct maglev_backend *x =
				&pool.be[ref->entry[s]];
			const struct maglev_backend *y = &shuffled[t->entry[s]];

			assert_int_equal(x->id_len, y->id_len);
			assert_memory_equal(x->id, y->id, x->id_len);
		}
	}
	maglev_table_destroy(t);
	maglev_table_destroy(ref);
	maglev_builder_destroy(b);
}

static void
test_invalid_size(void **state)
{
	const char *why = NULL;

	assert_true(maglev_is_prime(65537));
	assert_false(maglev_is_prime(65536));
	assert_false(maglev_is_prime(1));
	assert_false(maglev_is_prime(9));

	assert_int_equal(maglev_size_check(65536, 3, &why), -EINVAL);
	assert_non_null(why);
	why = NULL;
	assert_int_equal(maglev_size_check(0, 3, &why), -EINVAL);
	assert_non_null(why);
	why = NULL;
	/* 1009 is prime but not above 100 x 11. */
	assert_int_equal(maglev_size_check(1009, 11, &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(maglev_size_check(1009, 10, &why), 0);
	assert_int_equal(maglev_size_check(M, 0, &why), -EINVAL);
	assert_int_equal(maglev_size_check(M, N_MAX, &why), 0);
	assert_int_equal(maglev_size_check(M, N_MAX + 1, &why), -EINVAL);

	errno = 0;
	assert_null(maglev_table_create(65536));
	assert_int_equal(errno, EINVAL);
}

static void
test_invalid_backends(void **state)
{
	struct maglev_builder *b = maglev_builder_create(16);
	struct maglev_table *t = maglev_table_create(1009);
	const char *why;
	uint32_t s;

	assert_non_null(b);
	assert_non_null(t);
	pool_fill(11);

	why = NULL; /* 1009 <= 100 x 11 */
	assert_int_equal(maglev_build(b, t, pool.be, 11, &why), -EINVAL);
	assert_non_null(why);
	for (s = 0; s < t->size; s++)
		assert_int_equal(t->entry[s], MAGLEV_ENTRY_EMPTY);

	why = NULL; /* one of them down: 10 active, fits */
	pool.be[4].weight = 0;
	assert_int_equal(maglev_build(b, t, pool.be, 11, &why), 0);
	pool.be[4].weight = 1;

	why = NULL; /* duplicate identity */
	pool.be[1].id = pool.be[2].id;
	pool.be[1].id_len = pool.be[2].id_len;
	assert_int_equal(maglev_build(b, t, pool.be, 3, &why), -EINVAL);
	assert_non_null(why);
	pool_fill(11);

	why = NULL; /* empty identity */
	pool.be[0].id_len = 0;
	assert_int_equal(maglev_build(b, t, pool.be, 3, &why), -EINVAL);
	assert_non_null(why);
	pool_fill(11);

	why = NULL; /* nobody has a weight */
	pool.be[0].weight = pool.be[1].weight = 0;
	assert_int_equal(maglev_build(b, t, pool.be, 2, &why), -EINVAL);
	assert_non_null(why);
	pool_fill(11);

	why = NULL; /* weight too large */
	pool.be[0].weight = MAGLEV_WEIGHT_MAX + 1;
	assert_int_equal(maglev_build(b, t, pool.be, 2, &why), -EINVAL);
	assert_non_null(why);
	pool_fill(11);

	why = NULL; /* more than the builder holds */
	assert_int_equal(maglev_build(b, t, pool.be, 17, &why), -EINVAL);
	assert_non_null(why);

	maglev_table_destroy(t);
	maglev_builder_destroy(b);
}

/* Two seeds give two unrelated hashes; lengths are part of the input. */
static void
test_hash(void **state)
{
	static const uint8_t a[2] = {'a', 0};

	assert_int_not_equal(maglev_hash64(a, 1, MAGLEV_SEED_OFFSET),
			     maglev_hash64(a, 1, MAGLEV_SEED_SKIP));
	assert_int_not_equal(maglev_hash64(a, 1, MAGLEV_SEED_OFFSET),
			     maglev_hash64(a, 2, MAGLEV_SEED_OFFSET));
	assert_int_equal(maglev_hash64(a, 2, 7), maglev_hash64(a, 2, 7));
}

/*
 * Shard map: the owner is the group of table[latch_key_hash % M], groups
 * share keys evenly, and dropping one group moves its keys and few others.
 */
static void
test_shard_map(void **state)
{
	static const uint32_t groups[] = {10, 20, 30, 40, 50};
	uint32_t hits[5] = {0}, moved_other = 0, others = 0, i, g;
	struct shard_map *map, *less;
	const char *why = NULL;
	uint64_t seed = 42;
	const uint32_t keys = 100000;

	map = shard_map_create(groups, 5, 0, &why);
	assert_non_null(map);
	less = shard_map_create(groups, 4, 0, &why); /* without group 50 */
	assert_non_null(less);
	for (i = 0; i < keys; i++) {
		char key[32];
		int len = snprintf(key, sizeof(key), "lock/%016llx",
				   (unsigned long long)rng_next(&seed));
		uint32_t owner = shard_map_owner(map, key, (size_t)len);
		uint32_t owner4 = shard_map_owner(less, key, (size_t)len);

		assert_int_equal(
			owner,
			groups[map->table->entry[latch_key_hash(key,
								(size_t)len) %
						 map->table->size]]);
		for (g = 0; g < 5 && groups[g] != owner; g++)
			;
		assert_true(g < 5);
		hits[g]++;
		assert_int_not_equal(owner4, 50);
		if (owner != 50) {
			others++;
			if (owner4 != owner)
				moved_other++;
		}
	}
	for (g = 0; g < 5; g++) /* 20000 each, +-5 % sampling slack */
		assert_true(hits[g] > 19000 && hits[g] < 21000);
	assert_true((double)moved_other / others <= EXTRA_DISRUPTION_MAX);

	errno = 0;
	assert_null(shard_map_create(groups, 0, 0, &why));
	assert_int_equal(errno, EINVAL);
	static const uint32_t dup[] = {7, 7};
	assert_null(shard_map_create(dup, 2, 0, &why));
	assert_int_equal(errno, EINVAL);
	shard_map_destroy(less);
	shard_map_destroy(map);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_balance),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_disruption),
		cmocka_unit_test(test_weight_zero_is_removal),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_invalid_size),
		cmocka_unit_test(test_invalid_backends),
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_shard_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
