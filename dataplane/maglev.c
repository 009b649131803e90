/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maglev table builder (Eisenbud et al., NSDI 2016, section 3.4). See
 * maglev.h for the contract; this file holds the population loop, the
 * identity hash and the validation of M.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "dataplane/maglev.h"

struct maglev_builder {
	uint32_t cap;
	/* Backends sorted by identity; fill order of the rounds. */
	const struct maglev_backend **order;
	/* Per sorted backend: the next slot of its permutation, its skip. */
	uint32_t *next;
	uint32_t *skip;
};

bool
maglev_is_prime(uint32_t n)
{
	uint32_t d;

	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (d = 3; (uint64_t)d * d <= n; d += 2)
		if (n % d == 0)
			return false;
	return true;
}

int
maglev_size_check(uint32_t size, uint32_t backends, const char **reason)
{
	const char *why = NULL;

	if (size < 3 || size > MAGLEV_SIZE_MAX)
		why = "table size out of [3, 2^24]";
	else if (!maglev_is_prime(size))
		why = "table size is not prime (every skip must be coprime "
		      "with it)";
	else if (backends == 0)
		why = "no backend with a weight above 0";
	else if (backends > MAGLEV_BACKENDS_MAX)
		why = "more backends than MAGLEV_BACKENDS_MAX";
	else if ((uint64_t)size <= (uint64_t)MAGLEV_SIZE_PER_BACKEND * backends)
		why = "table size must exceed 100 x the number of backends";
	if (why == NULL)
		return 0;
	if (reason != NULL)
		*reason = why;
	return -EINVAL;
}

size_t
maglev_table_bytes(uint32_t size)
{
	return sizeof(struct maglev_table) + (size_t)size * sizeof(uint16_t);
}

int
maglev_table_init(struct maglev_table *mem, uint32_t size)
{
	uint32_t i;

	if (size < 3 || size > MAGLEV_SIZE_MAX || !maglev_is_prime(size))
		return -EINVAL;
	mem->size = size;
	mem->backends = 0;
	for (i = 0; i < size; i++)
		mem->entry[i] = MAGLEV_ENTRY_EMPTY;
	return 0;
}

struct maglev_table *
maglev_table_create(uint32_t size)
{
	struct maglev_table *t;
	int rc;

	if (size < 3 || size > MAGLEV_SIZE_MAX || !maglev_is_prime(size)) {
		errno = EINVAL;
		return NULL;
	}
	t = malloc(maglev_table_bytes(size));
	if (t == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	rc = maglev_table_init(t, size);
	LATCH_ASSERT(rc == 0);
	return t;
}

void
maglev_table_destroy(struct maglev_table *t)
{
	free(t);
}

struct maglev_builder *
maglev_builder_create(uint32_t backends_max)
{
	struct maglev_builder *b;

	if (backends_max == 0 || backends_max > MAGLEV_BACKENDS_MAX) {
		errno = EINVAL;
		return NULL;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		goto fail;
	b->cap = backends_max;
	b->order = calloc(backends_max, sizeof(*b->order));
	if (b->order == NULL)
		goto free_builder;
	b->next = calloc(backends_max, sizeof(*b->next));
	if (b->next == NULL)
		goto free_order;
	b->skip = calloc(backends_max, sizeof(*b->skip));
	if (b->skip == NULL)
		goto free_next;
	return b;

free_next:
	free(b->next);
free_order:
	free(b->order);
free_builder:
	free(b);
fail:
	errno = ENOMEM;
	return NULL;
}

void
maglev_builder_destroy(struct maglev_builder *b)
{
	if (b == NULL)
		return;
	free(b->skip);
	free(b->next);
	free(b->order);
	free(b);
}

/* splitmix64's finalizer (Steele, Lea, Flood 2014): full avalanche. */
static inline uint64_t
maglev_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Eight bytes at a time, little-endian by construction (not by memcpy) so
 * the result is the same on every host; the tail is padded with zeros and
 * the length is folded in first, so "a" and "a\0" differ.
 */
uint64_t
maglev_hash64(const void *data, size_t len, uint64_t seed)
{
	const uint8_t *p = data;
	uint64_t h =
		maglev_mix64(seed ^ ((uint64_t)len * 0x9e3779b97f4a7c15ull));
	size_t i = 0;

	while (i < len) {
		uint64_t w = 0;
		size_t k;

		for (k = 0; k < 8 && i + k < len; k++)
			w |= (uint64_t)p[i + k] << (8 * k);
		h = maglev_mix64(h ^ w) + 0x9e3779b97f4a7c15ull;
		i += k;
	}
	return maglev_mix64(h);
}

/* Order of identities: bytewise, then the shorter first. */
static int
maglev_cmp_id(const struct maglev_backend *x, const struct maglev_backend *y)
{
	uint16_t common = x->id_len < y->id_len ? x->id_len : y->id_len;
	int c = memcmp(x->id, y->id, common);

	if (c != 0)
		return c;
	return (int)x->id_len - (int)y->id_len;
}

static int
maglev_cmp_ptr(const void *a, const void *b)
{
	return maglev_cmp_id(*(const struct maglev_backend *const *)a,
			     *(const struct maglev_backend *const *)b);
}

/* Check every backend's fields; count those with a weight. */
static int
maglev_validate(const struct maglev_backend *backends, uint32_t n,
		uint32_t *active, const char **reason)
{
	uint32_t i;

	*active = 0;
	for (i = 0; i < n; i++) {
		const struct maglev_backend *be = &backends[i];

		if (be->id == NULL || be->id_len == 0 ||
		    be->id_len > MAGLEV_ID_MAX) {
			*reason = "backend identity empty or longer than "
				  "MAGLEV_ID_MAX";
			return -EINVAL;
		}
		if (be->weight > MAGLEV_WEIGHT_MAX) {
			*reason = "backend weight above MAGLEV_WEIGHT_MAX";
			return -EINVAL;
		}
		if (be->weight > 0)
			(*active)++;
	}
	return 0;
}

int
maglev_build(struct maglev_builder *b, struct maglev_table *t,
	     const struct maglev_backend *backends, uint32_t n,
	     const char **reason)
{
	uint32_t m = t->size, active, i, filled;
	int rc;

	LATCH_ASSERT(reason != NULL);
	for (i = 0; i < m; i++)
		t->entry[i] = MAGLEV_ENTRY_EMPTY;
	t->backends = 0;
	if (n > b->cap) {
		*reason = "more backends than the builder was created for";
		return -EINVAL;
	}
	rc = maglev_validate(backends, n, &active, reason);
	if (rc != 0)
		return rc;
	rc = maglev_size_check(m, active, reason);
	if (rc != 0)
		return rc;

	/* Sort every listed backend (so duplicates are found even among
	 * weight-0 ones), then keep those with a weight in that order. */
	for (i = 0; i < n; i++)
		b->order[i] = &backends[i];
	qsort(b->order, n, sizeof(*b->order), maglev_cmp_ptr);
	for (i = 1; i < n; i++) {
		if (maglev_cmp_id(b->order[i - 1], b->order[i]) == 0) {
			*reason = "two backends share one identity";
			return -EINVAL;
		}
	}
	active = 0;
	for (i = 0; i < n; i++) {
		const struct maglev_backend *be = b->order[i];
		uint64_t h1, h2;

		if (be->weight == 0)
			continue;
		h1 = maglev_hash64(be->id, be->id_len, MAGLEV_SEED_OFFSET);
		h2 = maglev_hash64(be->id, be->id_len, MAGLEV_SEED_SKIP);
		b->order[active] = be;
		b->next[active] = (uint32_t)(h1 % m);
		b->skip[active] = (uint32_t)(h2 % (m - 1)) + 1;
		active++;
	}

	/*
	 * The population loop of section 3.4: in each round every backend,
	 * in identity order, takes @weight turns; a turn walks the backend's
	 * permutation (offset, offset + skip, ... mod M, a full cycle since
	 * M is prime and 0 < skip < M) to its first empty slot and takes it.
	 * The loop ends when the table is full, after M turns in all.
	 */
	filled = 0;
	while (filled < m) {
		for (i = 0; i < active && filled < m; i++) {
			const struct maglev_backend *be = b->order[i];
			uint16_t idx = (uint16_t)(be - backends);
			uint16_t turn;

			for (turn = 0; turn < be->weight && filled < m;
			     turn++) {
				uint32_t c = b->next[i];

				while (t->entry[c] != MAGLEV_ENTRY_EMPTY) {
					c += b->skip[i];
					if (c >= m)
						c -= m;
				}
				t->entry[c] = idx;
				c += b->skip[i];
				if (c >= m)
					c -= m;
				b->next[i] = c;
				filled++;
			}
		}
	}
	t->backends = active;
	return 0;
}
