/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pending notifications (notify.h).
 *
 * Entries live in one array allocated at creation. Three structures index
 * them, all bounded by entries_max:
 * - a free list (singly linked through `next`);
 * - a retry list in due order (doubly linked): every send schedules the
 *   entry at now + retry_ms and moves it to the tail, and now never goes
 *   back, so the list stays sorted and notify_poll() only looks at its
 *   head;
 * - an open-addressing hash of (client, request, token) -> entry, linear
 *   probing with backward-shift deletion (Knuth, TAOCP vol. 3, 6.4,
 *   algorithm R), so ACK finds its entry in O(1) without tombstones.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "dataplane/notify.h"

/* End of a list. */
#define NIL UINT32_MAX
/* Hash slots per entry: at most half full keeps linear probes short. */
#define NOTIFY_HASH_LOAD 2
/* Most entries: indexes stay below NIL with room for the hash sizing. */
#define NOTIFY_ENTRIES_MAX (1u << 24)

struct notify_entry {
	uint64_t client_id;
	uint64_t request_id;
	uint64_t token;
	uint64_t due_ms;
	uint32_t prev; /* retry list */
	uint32_t next; /* retry list, or free list */
	uint16_t port_id;
	uint16_t len;
	uint16_t attempts; /* transmissions so far, the first included */
	uint8_t frame[NOTIFY_FRAME_MAX];
};

struct notify_pool {
	struct notify_config cfg;
	struct notify_counters counters;
	uint32_t pending;
	uint32_t free_head;
	uint32_t head; /* retry list: soonest due */
	uint32_t tail;
	uint32_t hash_mask;
	uint32_t *hash; /* entry index + 1; 0 = empty */
	struct notify_entry *entries;
};

static uint32_t
pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

/* Mix the triple into a slot (splitmix64's finalizer, Steele et al.). */
static uint32_t
triple_hash(uint64_t client_id, uint64_t request_id, uint64_t token)
{
	uint64_t h = client_id ^ (request_id * 0x9e3779b97f4a7c15ull) ^
		     (token * 0xc2b2ae3d27d4eb4full);

	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return (uint32_t)h;
}

static bool
entry_matches(const struct notify_entry *e, uint64_t client_id,
	      uint64_t request_id, uint64_t token)
{
	return e->client_id == client_id && e->request_id == request_id &&
	       e->token == token;
}

struct notify_pool *
notify_create(const struct notify_config *cfg)
{
	struct notify_pool *np;
	uint32_t i, slots;

	if (cfg->entries_max == 0 || cfg->entries_max > NOTIFY_ENTRIES_MAX ||
	    cfg->retry_ms == 0 || cfg->retry_ms > NOTIFY_RETRY_MS_MAX ||
	    cfg->retries > NOTIFY_RETRIES_MAX) {
		errno = EINVAL;
		return NULL;
	}
	np = calloc(1, sizeof(*np));
	if (np == NULL)
		goto fail;
	np->cfg = *cfg;
	np->entries = calloc(cfg->entries_max, sizeof(*np->entries));
	if (np->entries == NULL)
		goto free_pool;
	slots = pow2_at_least(cfg->entries_max * NOTIFY_HASH_LOAD);
	np->hash = calloc(slots, sizeof(*np->hash));
	if (np->hash == NULL)
		goto free_entries;
	np->hash_mask = slots - 1;

	for (i = 0; i < cfg->entries_max; i++)
		np->entries[i].next = i + 1 < cfg->entries_max ? i + 1 : NIL;
	np->free_head = 0;
	np->head = NIL;
	np->tail = NIL;
	return np;

free_entries:
	free(np->entries);
free_pool:
	free(np);
fail:
	errno = ENOMEM;
	return NULL;
}

void
notify_destroy(struct notify_pool *np)
{
	if (np == NULL)
		return;
	free(np->hash);
	free(np->entries);
	free(np);
}

/* Hash slot holding the triple, or the empty slot where it would go. */
static uint32_t
hash_find(const struct notify_pool *np, uint64_t client_id, uint64_t request_id,
	  uint64_t token)
{
	uint32_t s = triple_hash(client_id, request_id, token) & np->hash_mask;
	uint32_t probes;

	/* Bounded: the table is at most half full, so an empty slot exists. */
	for (probes = 0; probes <= np->hash_mask; probes++) {
		uint32_t v = np->hash[s];

		if (v == 0 || entry_matches(&np->entries[v - 1], client_id,
					    request_id, token))
			return s;
		s = (s + 1) & np->hash_mask;
	}
	LATCH_ASSERT(!"notify hash has no empty slot");
	return 0;
}

/* Remove the entry at slot @s, shifting later probes back (algorithm R). */
static void
hash_remove_slot(struct notify_pool *np, uint32_t s)
{
	uint32_t hole = s, j = s;

	for (;;) {
		uint32_t v, home;
		const struct notify_entry *e;

		j = (j + 1) & np->hash_mask;
		v = np->hash[j];
		if (v == 0)
			break;
		e = &np->entries[v - 1];
		home = triple_hash(e->client_id, e->request_id, e->token) &
		       np->hash_mask;
		/* Move it if its home is not cyclically in (hole, j]. */
		if (((j - home) & np->hash_mask) >=
		    ((j - hole) & np->hash_mask)) {
			np->hash[hole] = v;
			hole = j;
		}
	}
	np->hash[hole] = 0;
}

static void
list_unlink(struct notify_pool *np, uint32_t i)
{
	struct notify_entry *e = &np->entries[i];

	if (e->prev != NIL)
		np->entries[e->prev].next = e->next;
	else
		np->head = e->next;
	if (e->next != NIL)
		np->entries[e->next].prev = e->prev;
	else
		np->tail = e->prev;
	e->prev = NIL;
	e->next = NIL;
}

static void
list_append(struct notify_pool *np, uint32_t i)
{
	struct notify_entry *e = &np->entries[i];

	e->prev = np->tail;
	e->next = NIL;
	if (np->tail != NIL)
		np->entries[np->tail].next = i;
	else
		np->head = i;
	np->tail = i;
}

/* Take entry @i out of every structure and put it on the free list. */
static void
entry_free(struct notify_pool *np, uint32_t i, uint32_t slot)
{
	hash_remove_slot(np, slot);
	list_unlink(np, i);
	np->entries[i].next = np->free_head;
	np->free_head = i;
	LATCH_ASSERT(np->pending > 0);
	np->pending--;
}

/* Transmit entry @i and schedule its next attempt at the tail. */
static void
entry_send(struct notify_pool *np, uint32_t i, uint64_t now_ms,
	   notify_send_fn send, void *ctx)
{
	struct notify_entry *e = &np->entries[i];

	if (!send(ctx, e->port_id, e->frame, e->len))
		np->counters.send_failed++;
	e->attempts++;
	e->due_ms = now_ms + np->cfg.retry_ms;
	list_unlink(np, i);
	list_append(np, i);
}

int
notify_add(struct notify_pool *np, uint64_t client_id, uint64_t request_id,
	   uint64_t token, uint16_t port_id, const uint8_t *frame, uint16_t len,
	   uint64_t now_ms, notify_send_fn send, void *ctx)
{
	struct notify_entry *e;
	uint32_t slot, i;

	if (len == 0 || len > NOTIFY_FRAME_MAX)
		return -EINVAL;

	slot = hash_find(np, client_id, request_id, token);
	if (np->hash[slot] != 0) {
		/* Supersede: the newest news about this grant wins. */
		i = np->hash[slot] - 1;
	} else if (np->free_head != NIL) {
		i = np->free_head;
		np->free_head = np->entries[i].next;
		np->hash[slot] = i + 1;
		np->pending++;
		list_append(np, i);
	} else {
		np->counters.full++;
		np->counters.sent++;
		if (!send(ctx, port_id, frame, len))
			np->counters.send_failed++;
		return -ENOSPC;
	}

	e = &np->entries[i];
	e->client_id = client_id;
	e->request_id = request_id;
	e->token = token;
	e->port_id = port_id;
	e->len = len;
	e->attempts = 0;
	memcpy(e->frame, frame, len);
	np->counters.sent++;
	entry_send(np, i, now_ms, send, ctx);
	return 0;
}

bool
notify_ack(struct notify_pool *np, uint64_t client_id, uint64_t request_id,
	   uint64_t token)
{
	uint32_t slot = hash_find(np, client_id, request_id, token);

	if (np->hash[slot] == 0)
		return false;
	entry_free(np, np->hash[slot] - 1, slot);
	np->counters.acked++;
	return true;
}

unsigned
notify_poll(struct notify_pool *np, uint64_t now_ms, unsigned budget,
	    notify_send_fn send, void *ctx)
{
	unsigned done = 0;

	while (done < budget && np->head != NIL &&
	       np->entries[np->head].due_ms <= now_ms) {
		uint32_t i = np->head;
		struct notify_entry *e = &np->entries[i];

		if (e->attempts > np->cfg.retries) {
			entry_free(np, i,
				   hash_find(np, e->client_id, e->request_id,
					     e->token));
			np->counters.gave_up++;
		} else {
			entry_send(np, i, now_ms, send, ctx);
			np->counters.retransmits++;
		}
		done++;
	}
	return done;
}

uint32_t
notify_pending(const struct notify_pool *np)
{
	return np->pending;
}

const struct notify_counters *
notify_counters(const struct notify_pool *np)
{
	return &np->counters;
}
