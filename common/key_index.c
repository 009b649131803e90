/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * key_index: open addressing, linear probing, backward-shift deletion.
 * See key_index.h for the contract.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/key_index.h"

/* key_index_key_equal() and key_index_hash() read whole words. */
_Static_assert(LATCH_KEY_MAX % 8 == 0, "keys are whole 64-bit words");

/* Largest index: slot ids and bucket positions fit int32_t with room. */
#define KEY_INDEX_SLOTS_MAX (1u << 30)
#define KEY_INDEX_EMPTY     0u

/*
 * One bucket: the low 32 bits of the key's hash (its home bucket and a
 * cheap filter before comparing keys) and slot + 1 (0 = empty).
 */
struct key_index_bucket {
	uint32_t hash;
	uint32_t slot1;
};

struct key_index {
	uint32_t slots;
	uint32_t mask; /* buckets - 1 */
	uint32_t count;
	uint32_t free_top;
	key_index_hash_fn hash_fn;
	struct key_index_bucket *buckets;
	struct lock_key *keys; /* by slot */
	uint32_t *free_slots;  /* stack of free slot ids */
};

/* MurmurHash3's 64-bit finaliser: every input bit affects every output. */
static inline uint64_t
key_index_fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static inline uint64_t
key_index_hash_seed(uint16_t len)
{
	return 0x9e3779b97f4a7c15ull ^ len; /* golden ratio */
}

/* Mix one 64-bit word of the key into @h. */
static inline uint64_t
key_index_hash_word(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0x87c37b91114253d5ull; /* MurmurHash3 x64 c1 */
	return (h << 31) | (h >> 33);
}

uint64_t
key_index_hash(const struct lock_key *key)
{
	/* Keys are zero-padded to LATCH_KEY_MAX, so whole words are safe. */
	uint32_t words = ((uint32_t)key->len + 7u) / 8u;
	uint64_t h = key_index_hash_seed(key->len);
	uint32_t i;

	if (words > LATCH_KEY_MAX / 8)
		words = LATCH_KEY_MAX / 8;
	for (i = 0; i < words; i++) {
		uint64_t w;

		memcpy(&w, key->bytes + 8 * i, sizeof(w));
		h = key_index_hash_word(h, w);
	}
	return key_index_fmix64(h);
}

uint64_t
key_index_hash_bytes(const void *bytes, uint16_t len)
{
	const uint8_t *b = bytes;
	uint64_t h = key_index_hash_seed(len);
	uint64_t w;
	uint32_t i, full;

	if (len > LATCH_KEY_MAX)
		len = LATCH_KEY_MAX;
	full = len / 8u;
	for (i = 0; i < full; i++) {
		memcpy(&w, b + 8 * i, sizeof(w));
		h = key_index_hash_word(h, w);
	}
	if (len % 8u != 0) {
		/* The zero padding of a struct lock_key's last word. */
		w = 0;
		memcpy(&w, b + 8 * full, len % 8u);
		h = key_index_hash_word(h, w);
	}
	return key_index_fmix64(h);
}

/*
 * Keys compared a 64-bit word at a time, over the words key_index_hash()
 * reads: keys are zero-padded (lock_key_set()), so equal keys have equal
 * words, and an inline loop of one or two compares costs less than a call
 * to memcmp() for the short keys locks use.
 */
static inline bool
key_index_key_equal(const struct lock_key *a, const struct lock_key *b)
{
	uint32_t words = ((uint32_t)a->len + 7u) / 8u;
	uint32_t i;

	if (a->len != b->len)
		return false;
	if (words > LATCH_KEY_MAX / 8)
		words = LATCH_KEY_MAX / 8;
	for (i = 0; i < words; i++) {
		uint64_t x, y;

		memcpy(&x, a->bytes + 8 * i, sizeof(x));
		memcpy(&y, b->bytes + 8 * i, sizeof(y));
		if (x != y)
			return false;
	}
	return true;
}

static inline uint32_t
key_index_hash32(const struct key_index *ki, const struct lock_key *key)
{
	if (ki->hash_fn != NULL)
		return (uint32_t)ki->hash_fn(key);
	return (uint32_t)key_index_hash(key);
}

struct key_index *
key_index_create(uint32_t slots, key_index_hash_fn hash)
{
	struct key_index *ki;
	uint64_t buckets = 2;
	uint32_t i;

	if (slots == 0 || slots > KEY_INDEX_SLOTS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	/* At most half full keeps linear probes short (Knuth, 6.4). */
	while (buckets < 2ull * slots)
		buckets <<= 1;
	ki = calloc(1, sizeof(*ki));
	if (ki == NULL)
		goto fail;
	ki->buckets = calloc(buckets, sizeof(*ki->buckets));
	if (ki->buckets == NULL)
		goto free_ki;
	ki->keys = calloc(slots, sizeof(*ki->keys));
	if (ki->keys == NULL)
		goto free_buckets;
	ki->free_slots = calloc(slots, sizeof(*ki->free_slots));
	if (ki->free_slots == NULL)
		goto free_keys;
	ki->slots = slots;
	ki->mask = (uint32_t)(buckets - 1);
	ki->hash_fn = hash;
	/* Hand out low slot ids first: dense use of the caller's arrays. */
	for (i = 0; i < slots; i++)
		ki->free_slots[i] = slots - 1 - i;
	ki->free_top = slots;
	return ki;

free_keys:
	free(ki->keys);
free_buckets:
	free(ki->buckets);
free_ki:
	free(ki);
fail:
	errno = ENOMEM;
	return NULL;
}

void
key_index_destroy(struct key_index *ki)
{
	if (ki == NULL)
		return;
	free(ki->free_slots);
	free(ki->keys);
	free(ki->buckets);
	free(ki);
}

/* Bucket holding @key, or the empty bucket where the probe ended. */
static uint32_t
key_index_probe(const struct key_index *ki, const struct lock_key *key,
		uint32_t h, bool *found)
{
	uint32_t pos = h & ki->mask;

	/* Bounded: the array is never more than half full. */
	for (;;) {
		const struct key_index_bucket *b = &ki->buckets[pos];

		if (b->slot1 == KEY_INDEX_EMPTY) {
			*found = false;
			return pos;
		}
		if (b->hash == h &&
		    key_index_key_equal(&ki->keys[b->slot1 - 1], key)) {
			*found = true;
			return pos;
		}
		pos = (pos + 1) & ki->mask;
	}
}

int32_t
key_index_lookup(const struct key_index *ki, const struct lock_key *key)
{
	bool found;
	uint32_t pos =
		key_index_probe(ki, key, key_index_hash32(ki, key), &found);

	if (!found)
		return -ENOENT;
	return (int32_t)(ki->buckets[pos].slot1 - 1);
}

int32_t
key_index_add(struct key_index *ki, const struct lock_key *key)
{
	uint32_t h = key_index_hash32(ki, key);
	bool found;
	uint32_t pos = key_index_probe(ki, key, h, &found);
	uint32_t slot;

	if (found)
		return (int32_t)(ki->buckets[pos].slot1 - 1);
	if (ki->free_top == 0)
		return -ENOSPC;
	slot = ki->free_slots[--ki->free_top];
	LATCH_ASSERT(slot < ki->slots);
	ki->keys[slot] = *key;
	ki->buckets[pos].hash = h;
	ki->buckets[pos].slot1 = slot + 1;
	ki->count++;
	return (int32_t)slot;
}

/*
 * Empty bucket @hole and pull later members of its probe run back, so every
 * key stays reachable from its home bucket without tombstones (Knuth 6.4,
 * Algorithm R).
 */
static void
key_index_shift_back(struct key_index *ki, uint32_t hole)
{
	uint32_t pos = (hole + 1) & ki->mask;

	for (;;) {
		struct key_index_bucket *b = &ki->buckets[pos];
		uint32_t home;

		if (b->slot1 == KEY_INDEX_EMPTY)
			break;
		home = b->hash & ki->mask;
		/* Move it if its home is not within (hole, pos]. */
		if (((pos - home) & ki->mask) >= ((pos - hole) & ki->mask)) {
			ki->buckets[hole] = *b;
			hole = pos;
		}
		pos = (pos + 1) & ki->mask;
	}
	ki->buckets[hole].slot1 = KEY_INDEX_EMPTY;
	ki->buckets[hole].hash = 0;
}

int32_t
key_index_del(struct key_index *ki, const struct lock_key *key)
{
	bool found;
	uint32_t pos =
		key_index_probe(ki, key, key_index_hash32(ki, key), &found);
	uint32_t slot;

	if (!found)
		return -ENOENT;
	slot = ki->buckets[pos].slot1 - 1;
	key_index_shift_back(ki, pos);
	/* keys[slot] is left as is: a free slot's key is never read. */
	LATCH_ASSERT(ki->free_top < ki->slots);
	ki->free_slots[ki->free_top++] = slot;
	ki->count--;
	return (int32_t)slot;
}

void
key_index_prefetch(const struct key_index *ki, const void *bytes, uint16_t len)
{
	if (ki->hash_fn != NULL)
		return;
	__builtin_prefetch(
		&ki->buckets[(uint32_t)key_index_hash_bytes(bytes, len) &
			     ki->mask]);
}

uint32_t
key_index_count(const struct key_index *ki)
{
	return ki->count;
}

static int32_t
key_index_op_lookup(void *ctx, const struct lock_key *key)
{
	return key_index_lookup(ctx, key);
}

static int32_t
key_index_op_add(void *ctx, const struct lock_key *key)
{
	return key_index_add(ctx, key);
}

static int32_t
key_index_op_del(void *ctx, const struct lock_key *key)
{
	return key_index_del(ctx, key);
}

const struct lock_index_ops key_index_ops = {
	.lookup = key_index_op_lookup,
	.add = key_index_op_add,
	.del = key_index_op_del,
};
