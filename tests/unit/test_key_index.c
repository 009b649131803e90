/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * key_index: add/lookup/del, dense stable slots, full index, collisions
 * forced through a poor hash, a random run against a linear-search model
 * (deletion must keep every other key reachable), and the hash of a key
 * read in place (what the workers prefetch by) against the padded one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/key_index.h"

static struct lock_key
make_key(unsigned n)
{
	struct lock_key k;
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "key-%u", n);

	memset(&k, 0, sizeof(k));
	k.len = (uint16_t)len;
	memcpy(k.bytes, buf, (size_t)len);
	return k;
}

/* Every key lands in the same home bucket: one long probe run. */
static uint64_t
hash_constant(const struct lock_key *key)
{
	(void)key;
	return 7;
}

/* Four home buckets only: interleaved runs that wrap around. */
static uint64_t
hash_mod4(const struct lock_key *key)
{
	return key_index_hash(key) % 4 + 13;
}

static void
test_create_invalid(void **state)
{
	(void)state;
	errno = 0;
	assert_null(key_index_create(0, NULL));
	assert_int_equal(errno, EINVAL);
}

static void
test_add_lookup_del(void **state)
{
	struct key_index *ki = key_index_create(16, NULL);
	struct lock_key a = make_key(1), b = make_key(2);
	int32_t sa, sb;

	(void)state;
	assert_non_null(ki);
	assert_int_equal(key_index_lookup(ki, &a), -ENOENT);
	sa = key_index_add(ki, &a);
	assert_true(sa >= 0 && sa < 16);
	/* Adding again returns the same slot. */
	assert_int_equal(key_index_add(ki, &a), sa);
	sb = key_index_add(ki, &b);
	assert_true(sb >= 0 && sb < 16);
	assert_int_not_equal(sa, sb);
	assert_int_equal(key_index_lookup(ki, &a), sa);
	assert_int_equal(key_index_lookup(ki, &b), sb);
	assert_int_equal(key_index_count(ki), 2);
	assert_int_equal(key_index_del(ki, &a), sa);
	assert_int_equal(key_index_lookup(ki, &a), -ENOENT);
	assert_int_equal(key_index_del(ki, &a), -ENOENT);
	assert_int_equal(key_index_lookup(ki, &b), sb);
	assert_int_equal(key_index_count(ki), 1);
	key_index_destroy(ki);
}

/* Keys differing in length only, or in one byte, are distinct. */
static void
test_similar_keys(void **state)
{
	struct key_index *ki = key_index_create(8, NULL);
	struct lock_key k1, k2, k3;
	int32_t s1, s2, s3;

	(void)state;
	memset(&k1, 0, sizeof(k1));
	k1.len = 1;
	k2 = k1;
	k2.len = 2; /* "\0\0" vs "\0" */
	k3 = k1;
	k3.bytes[0] = 1;
	s1 = key_index_add(ki, &k1);
	s2 = key_index_add(ki, &k2);
	s3 = key_index_add(ki, &k3);
	assert_true(s1 >= 0 && s2 >= 0 && s3 >= 0);
	assert_int_not_equal(s1, s2);
	assert_int_not_equal(s1, s3);
	assert_int_not_equal(s2, s3);
	assert_int_equal(key_index_lookup(ki, &k2), s2);
	key_index_destroy(ki);
}

static void
test_full(void **state)
{
	struct key_index *ki = key_index_create(5, NULL);
	struct lock_key k;
	unsigned seen = 0;
	unsigned i;

	(void)state;
	for (i = 0; i < 5; i++) {
		int32_t s;

		k = make_key(i);
		s = key_index_add(ki, &k);
		assert_true(s >= 0 && s < 5);
		assert_false(seen & (1u << s));
		seen |= 1u << s;
	}
	k = make_key(99);
	assert_int_equal(key_index_add(ki, &k), -ENOSPC);
	/* An existing key is still found when full. */
	k = make_key(3);
	assert_true(key_index_add(ki, &k) >= 0);
	assert_true(key_index_del(ki, &k) >= 0);
	k = make_key(99);
	assert_true(key_index_add(ki, &k) >= 0);
	key_index_destroy(ki);
}

/*
 * With a constant hash every key collides; deleting from the middle of the
 * run must keep the keys after it reachable.
 */
static void
run_collisions(key_index_hash_fn hash)
{
	enum { N = 64 };
	struct key_index *ki = key_index_create(N, hash);
	int32_t slot[N];
	unsigned i;

	assert_non_null(ki);
	for (i = 0; i < N; i++) {
		struct lock_key k = make_key(i);

		slot[i] = key_index_add(ki, &k);
		assert_true(slot[i] >= 0);
	}
	/* Delete every third key, from the middle of runs. */
	for (i = 1; i < N; i += 3) {
		struct lock_key k = make_key(i);

		assert_int_equal(key_index_del(ki, &k), slot[i]);
	}
	for (i = 0; i < N; i++) {
		struct lock_key k = make_key(i);

		if (i % 3 == 1)
			assert_int_equal(key_index_lookup(ki, &k), -ENOENT);
		else
			assert_int_equal(key_index_lookup(ki, &k), slot[i]);
	}
	/* Re-add: slots are reused and everything is found again. */
	for (i = 1; i < N; i += 3) {
		struct lock_key k = make_key(i);

		slot[i] = key_index_add(ki, &k);
		assert_true(slot[i] >= 0);
	}
	for (i = 0; i < N; i++) {
		struct lock_key k = make_key(i);

		assert_int_equal(key_index_lookup(ki, &k), slot[i]);
	}
	assert_int_equal(key_index_count(ki), N);
	key_index_destroy(ki);
}

static void
test_collisions_constant(void **state)
{
	(void)state;
	run_collisions(hash_constant);
}

static void
test_collisions_mod4(void **state)
{
	(void)state;
	run_collisions(hash_mod4);
}

static uint64_t rng_state;

static uint64_t
rng_next(void)
{
	/* xorshift64*: fixed seed, reproducible. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* Random add/del/lookup against a model array, with each hash. */
static void
run_random(key_index_hash_fn hash, unsigned slots, unsigned universe)
{
	struct key_index *ki = key_index_create(slots, hash);
	int32_t model[512];
	unsigned present = 0;
	unsigned op;

	assert_true(universe <= 512);
	for (op = 0; op < universe; op++)
		model[op] = -1;
	rng_state = 0x1234567887654321ull;
	for (op = 0; op < 50000; op++) {
		unsigned n = (unsigned)(rng_next() % universe);
		struct lock_key k = make_key(n);
		unsigned what = (unsigned)(rng_next() % 3);
		int32_t got;

		if (what == 0) {
			got = key_index_add(ki, &k);
			if (model[n] >= 0) {
				assert_int_equal(got, model[n]);
			} else if (present == slots) {
				assert_int_equal(got, -ENOSPC);
			} else {
				assert_true(got >= 0 && got < (int32_t)slots);
				model[n] = got;
				present++;
			}
		} else if (what == 1) {
			got = key_index_del(ki, &k);
			assert_int_equal(got,
					 model[n] >= 0 ? model[n] : -ENOENT);
			if (model[n] >= 0)
				present--;
			model[n] = -1;
		} else {
			got = key_index_lookup(ki, &k);
			assert_int_equal(got,
					 model[n] >= 0 ? model[n] : -ENOENT);
		}
		assert_int_equal(key_index_count(ki), present);
	}
	/* Slots of present keys are distinct. */
	for (op = 0; op < universe; op++) {
		unsigned j;

		for (j = op + 1; j < universe; j++)
			if (model[op] >= 0)
				assert_int_not_equal(model[op], model[j]);
	}
	key_index_destroy(ki);
}

static void
test_random(void **state)
{
	(void)state;
	run_random(NULL, 100, 300);
	run_random(hash_mod4, 40, 120);
	run_random(hash_constant, 20, 60);
}

/* As lock_key_set() builds a key: zero after its @len bytes. */
static void
padded_key(struct lock_key *k, const uint8_t *bytes, unsigned len)
{
	memset(k, 0, sizeof(*k));
	k->len = (uint16_t)len;
	memcpy(k->bytes, bytes, len);
}

/*
 * key_index_hash_bytes() of a key where it lies, followed by other bytes
 * (as in a packet), equals key_index_hash() of the same key zero-padded,
 * for every length: the workers prefetch the bucket it names.
 */
static void
test_hash_bytes(void **state)
{
	uint8_t raw[LATCH_KEY_MAX + 8];
	struct lock_key k;
	unsigned len, i;

	(void)state;
	for (i = 0; i < sizeof(raw); i++)
		raw[i] =
			(uint8_t)(i * 37u + 11u); /* no zero bytes to hide in */
	for (len = 1; len <= LATCH_KEY_MAX; len++) {
		padded_key(&k, raw, len);
		assert_true(key_index_hash_bytes(raw, (uint16_t)len) ==
			    key_index_hash(&k));
	}
	/* Length is hashed: a key and its prefix differ. */
	padded_key(&k, raw, 8);
	assert_true(key_index_hash_bytes(raw, 9) != key_index_hash(&k));
}

/* A prefetch is only a hint: the index answers the same after it. */
static void
test_prefetch_changes_nothing(void **state)
{
	struct key_index *ki = key_index_create(64, NULL);
	struct lock_key a = make_key(1), b = make_key(2);
	int32_t slot;

	(void)state;
	assert_non_null(ki);
	slot = key_index_add(ki, &a);
	assert_true(slot >= 0);
	key_index_prefetch(ki, a.bytes, a.len);
	key_index_prefetch(ki, b.bytes, b.len);
	assert_int_equal(key_index_lookup(ki, &a), slot);
	assert_int_equal(key_index_lookup(ki, &b), -ENOENT);
	assert_int_equal(key_index_count(ki), 1);
	key_index_destroy(ki);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_invalid),
		cmocka_unit_test(test_add_lookup_del),
		cmocka_unit_test(test_similar_keys),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_collisions_constant),
		cmocka_unit_test(test_collisions_mod4),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_hash_bytes),
		cmocka_unit_test(test_prefetch_changes_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
