/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Connection tracking for 5-tuple routes: one worker's table of flows, each
 * remembering the backend its first packet was sent to, so a flow keeps
 * its backend when a route's pool changes (docs/routing.md, "connection
 * tracking").
 *
 * Maglev's own rule (Eisenbud et al., NSDI 2016, section 3.3, "backend
 * selection", on connection tracking): consistent hashing alone moves a few flows of the backends
 * that stay when the pool changes; a per-machine flow table keeps them
 * where they were. A flow whose backend has left the pool or is down is
 * not kept: it goes where Maglev sends it now, and its entry is replaced.
 *
 * An entry names its backend by a stable 64-bit identity (router.c hashes
 * the backend's identity bytes), never by the index a table gave it: a
 * table swap replaces every index. The index is kept beside it only as a
 * hint, checked against the identity before use.
 *
 * The table is open addressing with a bounded probe: a flow lives in one of
 * CONNTRACK_PROBE_MAX consecutive slots from hash & mask, and every lookup
 * reads that window and nothing more. A new flow takes a free slot of its
 * window, else one whose idle time ran out (counted as expired), else the
 * entry closest to expiring (counted as an eviction). Expiry is lazy: an
 * entry past its deadline is treated as absent and reused when its window
 * is visited, so there is no sweep to run.
 *
 * Pure: no clock (now_ms comes from the caller), no DPDK, no globals; all
 * memory is allocated in conntrack_create(), nothing after.
 *
 * Thread safety: none. A table is owned by one worker lcore. Its counters
 * may be read by other threads (aligned 64-bit words written only by the
 * owner), as the worker's own are (worker.h).
 */
#ifndef LATCH_CONNTRACK_H
#define LATCH_CONNTRACK_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Slots one flow may occupy (and one lookup reads): 8 entries of 40 bytes
 * are 5 cache lines. Katran's and Linux's flow tables probe a handful of
 * slots for the same reason: a bounded per-packet cost; 8 keeps the chance
 * that a window is full while the table is half empty small (2^-8, about
 * 0.4 %, if slots filled independently; neighbouring windows overlap, so
 * somewhat more).
 */
#define CONNTRACK_PROBE_MAX 8u
/* Table sizes: a power of two from one window to 2^24 entries (640 MiB:
 * far beyond what one worker should hold). */
#define CONNTRACK_ENTRIES_MIN CONNTRACK_PROBE_MAX
#define CONNTRACK_ENTRIES_MAX (1u << 24)
/*
 * Idle time after which a flow is forgotten: 30 s, the order of Linux's
 * UDP conntrack timeout (nf_conntrack_udp_timeout_stream is 120 s, the
 * unreplied one 30 s); a route may set its own (1 ms to 1 day).
 */
#define CONNTRACK_IDLE_MS_DEFAULT 30000u
#define CONNTRACK_IDLE_MS_MAX     86400000u
/* Not an identity: a free slot, or a backend that may take no flow. */
#define CONNTRACK_ID_NONE 0ull

_Static_assert((CONNTRACK_PROBE_MAX & (CONNTRACK_PROBE_MAX - 1)) == 0,
	       "the probe window is a power of two");
_Static_assert(CONNTRACK_ENTRIES_MIN >= CONNTRACK_PROBE_MAX,
	       "a window never wraps onto itself");

/*
 * A flow: IPv4 addresses and ports as they are on the wire (network
 * order), the IP protocol, and zero padding so keys compare as words.
 */
struct conntrack_key {
	uint32_t src_ip_be;
	uint32_t dst_ip_be;
	uint16_t src_port_be;
	uint16_t dst_port_be;
	uint8_t proto;
	uint8_t pad[3]; /* always 0 */
};

_Static_assert(sizeof(struct conntrack_key) == 16, "a key is two words");

/* One slot. backend_id == CONNTRACK_ID_NONE: free. */
struct conntrack_entry {
	struct conntrack_key key;
	uint64_t expires_ms; /* idle deadline: now_ms + idle_ms at last use */
	uint64_t backend_id; /* the backend's stable identity */
	uint16_t backend;    /* its index in the pool last seen: a hint */
	uint8_t pad[6];
};

_Static_assert(sizeof(struct conntrack_entry) == 40, "five words a slot");

/* Per-worker counters; one list makes the fields and their readers. */
#define CONNTRACK_COUNTER_LIST(X)                                          \
	X(hits)      /* packets of a known flow sent to its own backend */ \
	X(misses)    /* new flows (or flows back after their idle time) */ \
	X(evictions) /* live flows dropped from a full window */           \
	X(expired)   /* idle entries found and reused */                   \
	X(moved)     /* flows whose backend left or went down: re-routed */

struct conntrack_counters {
#define CONNTRACK_COUNTER_FIELD(name) uint64_t name;
	CONNTRACK_COUNTER_LIST(CONNTRACK_COUNTER_FIELD)
#undef CONNTRACK_COUNTER_FIELD
};

/* What conntrack_flow() did with a packet. */
enum conntrack_verdict {
	CONNTRACK_UNTRACKED = 0, /* not looked up (router.h's decision) */
	CONNTRACK_HIT,           /* the flow's backend, kept */
	CONNTRACK_NEW,           /* no live entry: Maglev's choice, recorded */
	CONNTRACK_MOVED,         /* its backend is gone: Maglev's, recorded */
};

/*
 * The backends a flow may be kept on, as the current route table has them:
 * ids[i] is backend i's identity, or CONNTRACK_ID_NONE if it may take no
 * flow now (down, weight 0). Built with the table, read-only.
 */
struct conntrack_pool {
	const uint64_t *ids;
	uint16_t count;
};

struct conntrack {
	uint32_t entries; /* power of two */
	uint32_t mask;    /* entries - 1 */
	struct conntrack_counters counters;
	struct conntrack_entry slot[];
};

/*
 * Allocate an empty table of @entries_max slots, rounded up to a power of
 * two (at least CONNTRACK_ENTRIES_MIN). NULL and errno: EINVAL (0 or above
 * CONNTRACK_ENTRIES_MAX), ENOMEM. Start-up (worker_create), main lcore.
 */
struct conntrack *conntrack_create(uint32_t entries_max);
void conntrack_destroy(struct conntrack *ct);

/* Bytes a table of @entries_max slots takes (for docs and logs). */
uint64_t conntrack_bytes(uint32_t entries_max);

/*
 * The backend for one packet of flow @k on a tracked route, and its
 * bookkeeping. @hash is the flow's hash (the router's latch_key_hash of
 * the 5-tuple: the window is hash & mask), @idle_ms the route's idle time
 * (1..CONNTRACK_IDLE_MS_MAX), @pool the route's backends as the current
 * table has them, @fresh the index Maglev gives the flow now (its
 * pool->ids must not be CONNTRACK_ID_NONE).
 *
 * A live entry whose backend is still in @pool with an identity is used
 * (HIT) and its deadline pushed to now_ms + idle_ms. A live entry whose
 * backend is not (removed from the pool, down, weight 0) is re-pointed to
 * @fresh (MOVED). With no live entry, @fresh is recorded in a slot of the
 * window (NEW), reclaiming an expired entry or evicting the one closest
 * to its deadline if the window is full. Returns the index to send to and
 * sets *@verdict. Owner worker only; O(CONNTRACK_PROBE_MAX) on a hit, and
 * O(pool->count) once per flow after a table swap moved its index.
 */
uint16_t conntrack_flow(struct conntrack *ct, const struct conntrack_key *k,
			uint64_t hash, uint64_t now_ms, uint32_t idle_ms,
			const struct conntrack_pool *pool, uint16_t fresh,
			enum conntrack_verdict *verdict);

/*
 * The live entry of flow @k (deadline after @now_ms), or NULL. Read-only:
 * changes no entry and no counter. Tests and diagnostics; owner worker.
 */
const struct conntrack_entry *conntrack_find(const struct conntrack *ct,
					     const struct conntrack_key *k,
					     uint64_t hash, uint64_t now_ms);

/* Live entries at @now_ms: a full scan, for tests and diagnostics only. */
uint32_t conntrack_live(const struct conntrack *ct, uint64_t now_ms);

/* The counters of @ct (any thread; see the thread-safety note above). */
static inline const struct conntrack_counters *
conntrack_counters(const struct conntrack *ct)
{
	return &ct->counters;
}

#endif /* LATCH_CONNTRACK_H */
