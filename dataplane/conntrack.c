/* SPDX-License-Identifier: BSD-3-Clause */
/* Per-worker flow table of 5-tuple routes (conntrack.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "dataplane/conntrack.h"

/* Round @n up to a power of two, at least CONNTRACK_ENTRIES_MIN. */
static uint32_t
ct_entries(uint32_t n)
{
	uint32_t e = CONNTRACK_ENTRIES_MIN;

	while (e < n)
		e <<= 1;
	return e;
}

uint64_t
conntrack_bytes(uint32_t entries_max)
{
	return sizeof(struct conntrack) +
	       (uint64_t)ct_entries(entries_max) *
		       sizeof(struct conntrack_entry);
}

struct conntrack *
conntrack_create(uint32_t entries_max)
{
	struct conntrack *ct;
	uint32_t n;

	if (entries_max == 0 || entries_max > CONNTRACK_ENTRIES_MAX) {
		errno = EINVAL;
		return NULL;
	}
	n = ct_entries(entries_max);
	/* Zeroed: every slot free (CONNTRACK_ID_NONE is 0). */
	ct = calloc(1, sizeof(*ct) + (size_t)n * sizeof(ct->slot[0]));
	if (ct == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	ct->entries = n;
	ct->mask = n - 1;
	return ct;
}

void
conntrack_destroy(struct conntrack *ct)
{
	free(ct);
}

static inline bool
ct_key_equal(const struct conntrack_key *a, const struct conntrack_key *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* Is @e in use and before its deadline at @now_ms? */
static inline bool
ct_is_live(const struct conntrack_entry *e, uint64_t now_ms)
{
	return e->backend_id != CONNTRACK_ID_NONE && now_ms < e->expires_ms;
}

const struct conntrack_entry *
conntrack_find(const struct conntrack *ct, const struct conntrack_key *k,
	       uint64_t hash, uint64_t now_ms)
{
	const struct conntrack_entry *e;
	uint32_t i;

	for (i = 0; i < CONNTRACK_PROBE_MAX; i++) {
		e = &ct->slot[(hash + i) & ct->mask];
		if (e->backend_id != CONNTRACK_ID_NONE &&
		    ct_key_equal(&e->key, k))
			return ct_is_live(e, now_ms) ? e : NULL;
	}
	return NULL;
}

uint32_t
conntrack_live(const struct conntrack *ct, uint64_t now_ms)
{
	uint32_t i, n = 0;

	for (i = 0; i < ct->entries; i++)
		n += ct_is_live(&ct->slot[i], now_ms);
	return n;
}

/*
 * The index of identity @id in @pool, or -1 when the pool no longer has
 * it (removed, or down: its id is CONNTRACK_ID_NONE there). @hint first:
 * it is right unless a table swap renumbered the pool.
 */
static int
ct_pool_index(const struct conntrack_pool *pool, uint64_t id, uint16_t hint)
{
	uint16_t i;

	if (hint < pool->count && pool->ids[hint] == id)
		return hint;
	for (i = 0; i < pool->count; i++)
		if (pool->ids[i] == id)
			return i;
	return -1;
}

uint16_t
conntrack_flow(struct conntrack *ct, const struct conntrack_key *k,
	       uint64_t hash, uint64_t now_ms, uint32_t idle_ms,
	       const struct conntrack_pool *pool, uint16_t fresh,
	       enum conntrack_verdict *verdict)
{
	struct conntrack_entry *e, *match = NULL, *free_slot = NULL;
	struct conntrack_entry *stale = NULL, *oldest = NULL;
	uint32_t i;
	int idx;

	LATCH_DEBUG_ASSERT(fresh < pool->count);
	LATCH_DEBUG_ASSERT(pool->ids[fresh] != CONNTRACK_ID_NONE);
	LATCH_DEBUG_ASSERT(idle_ms > 0);

	/* One pass over the window: the flow's slot if it has one, and the
	 * best place for it if it has none. A key is in its window at most
	 * once, since it is only added after a full pass missed it. */
	for (i = 0; i < CONNTRACK_PROBE_MAX; i++) {
		e = &ct->slot[(hash + i) & ct->mask];
		if (e->backend_id == CONNTRACK_ID_NONE) {
			if (free_slot == NULL)
				free_slot = e;
		} else if (ct_key_equal(&e->key, k)) {
			match = e;
			break;
		} else if (now_ms >= e->expires_ms) {
			if (stale == NULL)
				stale = e;
		} else if (oldest == NULL ||
			   e->expires_ms < oldest->expires_ms) {
			oldest = e;
		}
	}

	if (match != NULL && now_ms < match->expires_ms) {
		idx = ct_pool_index(pool, match->backend_id, match->backend);
		if (idx >= 0) {
			match->backend = (uint16_t)idx;
			match->expires_ms = now_ms + idle_ms;
			ct->counters.hits++;
			*verdict = CONNTRACK_HIT;
			return (uint16_t)idx;
		}
		/* Its backend left the pool or is down: Maglev's rule. */
		e = match;
		ct->counters.moved++;
		*verdict = CONNTRACK_MOVED;
	} else {
		if (match != NULL) {
			/* The flow itself came back after its idle time. */
			e = match;
			ct->counters.expired++;
		} else if (free_slot != NULL) {
			e = free_slot;
		} else if (stale != NULL) {
			e = stale;
			ct->counters.expired++;
		} else {
			/* Window full of live flows: the one closest to its
			 * deadline goes (the least recently used of equal
			 * idle times). */
			LATCH_DEBUG_ASSERT(oldest != NULL);
			e = oldest;
			ct->counters.evictions++;
		}
		e->key = *k;
		ct->counters.misses++;
		*verdict = CONNTRACK_NEW;
	}
	e->backend_id = pool->ids[fresh];
	e->backend = fresh;
	e->expires_ms = now_ms + idle_ms;
	return fresh;
}
