/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Maglev consistent hashing: a lookup table of prime size M in which each
 * backend owns about M/N entries (weighted: about M * w / sum(w)), built so
 * that adding or removing one backend moves few keys of the others.
 *
 * Implements the table population of Eisenbud et al., "Maglev: A Fast and
 * Reliable Software Network Load Balancer", NSDI 2016, section 3.4
 * ("Consistent hashing"), with its weighted variant (a backend of weight w
 * takes w turns per round). Each backend's permutation of the table comes
 * from its identity bytes alone: offset = h1 % M, skip = h2 % (M - 1) + 1,
 * where h1 and h2 are two differently seeded 64-bit hashes of the identity.
 * Backends are filled in the order of their sorted identities, so the table
 * depends on the set of backends, never on the order the caller lists them.
 *
 * The builder is pure (no DPDK, no clock, no globals) and runs off the fast
 * path: on the main lcore or in the control plane, into memory that a
 * create function allocated. A worker only reads a finished table, with
 * one index: maglev_lookup() = entry[hash % M].
 *
 * Thread safety: a table under construction belongs to its builder's
 * thread; a finished table is read-only and may be read by any thread.
 * Tables are published to workers by RCU pointer swap (router_rcu.h).
 */
#ifndef LATCH_MAGLEV_H
#define LATCH_MAGLEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The smaller table size evaluated in the paper (section 5.3). */
#define MAGLEV_SIZE_DEFAULT 65537u
/*
 * M must exceed this many times the number of backends: the paper's
 * guidance (M >> N, section 3.4) made a checked rule, so that every
 * backend's share stays within 1 % of the mean (tests/unit/test_maglev.c).
 */
#define MAGLEV_SIZE_PER_BACKEND 100u
/*
 * Largest table: 2^24 entries (32 MiB of uint16_t is the most we accept
 * to hold per route); the smallest prime above 2^24 is not allowed.
 */
#define MAGLEV_SIZE_MAX (1u << 24)
/* Entries are uint16_t backend indexes; UINT16_MAX marks an empty slot. */
#define MAGLEV_BACKENDS_MAX 4096u
#define MAGLEV_ENTRY_EMPTY  UINT16_MAX
/* Longest backend identity in bytes (a name, an address, a group id). */
#define MAGLEV_ID_MAX 64u
/* Largest weight: keeps sum(w) * rounds far below overflow. */
#define MAGLEV_WEIGHT_MAX 1000u

_Static_assert(MAGLEV_BACKENDS_MAX < MAGLEV_ENTRY_EMPTY,
	       "a backend index never equals the empty mark");
_Static_assert(MAGLEV_SIZE_DEFAULT > MAGLEV_SIZE_PER_BACKEND * 655,
	       "the default table holds at least 655 backends");

/*
 * One backend as the builder sees it. @id is its identity (the bytes that
 * place it in the table; two backends must not share one), @weight its
 * number of turns per round: 0 leaves it out of the table, exactly as if it
 * were not listed (that is how a backend that is down is removed).
 */
struct maglev_backend {
	const uint8_t *id;
	uint16_t id_len;
	uint16_t weight;
};

/*
 * A lookup table. entry[i] is the index, in the caller's backend array
 * given to maglev_build(), of the backend that owns slot i.
 */
struct maglev_table {
	uint32_t size;     /* M, prime */
	uint32_t backends; /* backends with weight > 0 in the last build */
	uint16_t entry[];
};

/*
 * Seeds of the two identity hashes (h1: offset, h2: skip). Arbitrary but
 * fixed forever: changing one reshuffles every table. Digits of pi and e.
 */
#define MAGLEV_SEED_OFFSET 0x243f6a8885a308d3ull
#define MAGLEV_SEED_SKIP   0xb7e151628aed2a6bull

/* Scratch space of the builder (permutation state per backend). */
struct maglev_builder;

/*
 * Is @size usable as M for @backends backends (those with weight > 0)?
 * 0, or -EINVAL with *@reason (if @reason is not NULL) set to a static
 * sentence saying why not. Any thread; pure.
 */
int maglev_size_check(uint32_t size, uint32_t backends, const char **reason);

/* Is @n prime? Trial division: for validation only, never per packet. */
bool maglev_is_prime(uint32_t n);

/* Bytes that a table of @size entries needs (for maglev_table_init). */
size_t maglev_table_bytes(uint32_t size);

/*
 * Make an empty table of @size entries in @mem (maglev_table_bytes(size)
 * bytes, e.g. from rte_zmalloc_socket on the workers' NUMA node). 0 or
 * -EINVAL if @size is not prime or is out of [3, MAGLEV_SIZE_MAX].
 * Main lcore or control plane.
 */
int maglev_table_init(struct maglev_table *mem, uint32_t size);

/*
 * Allocate and init a table of @size entries. NULL and errno (EINVAL,
 * ENOMEM). Start-up or main lcore, never a worker.
 */
struct maglev_table *maglev_table_create(uint32_t size);
void maglev_table_destroy(struct maglev_table *t);

/*
 * Allocate a builder for up to @backends_max backends
 * (1..MAGLEV_BACKENDS_MAX). NULL and errno. One builder serves any number
 * of builds, one at a time. Start-up or main lcore.
 */
struct maglev_builder *maglev_builder_create(uint32_t backends_max);
void maglev_builder_destroy(struct maglev_builder *b);

/*
 * Fill @t from @backends[0..n). Returns 0, or -EINVAL with *@reason set
 * (not NULL-checked: pass a pointer) when: no backend has a weight, @n is
 * above the builder's capacity, a weight is above MAGLEV_WEIGHT_MAX, an
 * identity is empty, longer than MAGLEV_ID_MAX or shared by two backends,
 * or t->size is not above MAGLEV_SIZE_PER_BACKEND x the backends with
 * weight. On error @t is left empty. Runs in O(M log M) expected steps
 * (the paper's bound); the thread that owns @b, off the fast path.
 */
int maglev_build(struct maglev_builder *b, struct maglev_table *t,
		 const struct maglev_backend *backends, uint32_t n,
		 const char **reason);

/*
 * The seeded 64-bit hash that places identities (h1 with seed
 * MAGLEV_SEED_OFFSET, h2 with MAGLEV_SEED_SKIP). Exposed for tests and
 * for other languages that must rebuild the same table.
 */
uint64_t maglev_hash64(const void *data, size_t len, uint64_t seed);

/*
 * The slot of @hash in @t: hash % M. Any thread, on a finished table.
 * With maglev_entry(), maglev_lookup() in two halves, so that a caller
 * with several keys can prefetch every entry before reading one.
 */
static inline uint32_t
maglev_slot(const struct maglev_table *t, uint64_t hash)
{
	return (uint32_t)(hash % t->size);
}

/* The backend index in slot @slot (from maglev_slot) of @t. Any thread. */
static inline uint16_t
maglev_entry(const struct maglev_table *t, uint32_t slot)
{
	return t->entry[slot];
}

/*
 * The backend index owning @hash. Any thread, on a finished table. One
 * division and one load: the whole per-packet cost of Maglev.
 */
static inline uint16_t
maglev_lookup(const struct maglev_table *t, uint64_t hash)
{
	return maglev_entry(t, maglev_slot(t, hash));
}

#endif /* LATCH_MAGLEV_H */
