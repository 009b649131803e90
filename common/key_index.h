/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * key_index: a pure key -> slot map for struct lock_key.
 *
 * Open addressing with linear probing over a power-of-two bucket array at
 * most half full, and backward-shift deletion (no tombstones, so lookups
 * stay short however many keys come and go). Each key present owns a dense
 * slot id in [0, slots), stable while the key is present, handed out from
 * a free list (the one freed last first, so a busy slot's memory stays in
 * cache). It implements struct lock_index_ops (dataplane/lock_table.h) for
 * latchd's workers, the unit tests, the simulator and the benchmarks.
 *
 * Memory: everything is allocated in key_index_create(); add never
 * allocates and fails with -ENOSPC when all slots are taken.
 *
 * Thread safety: none; one owner.
 */
#ifndef LATCH_KEY_INDEX_H
#define LATCH_KEY_INDEX_H

#include <stdint.h>

#include "dataplane/lock_table.h"

struct key_index;

/* A key hash; tests pass a poor one to force collisions. */
typedef uint64_t (*key_index_hash_fn)(const struct lock_key *key);

/*
 * The default hash: 64-bit words of the (zero-padded) key bytes mixed with
 * the length, finished with MurmurHash3's fmix64. Any thread; pure.
 */
uint64_t key_index_hash(const struct lock_key *key);

/* key_index_hash() of the key of @len (1 .. LATCH_KEY_MAX) bytes at
 * @bytes, read where it lies (in a packet, unpadded). Pure. */
uint64_t key_index_hash_bytes(const void *bytes, uint16_t len);

/*
 * Prefetch the bucket where a probe for the key at @bytes (@len bytes, as
 * key_index_hash_bytes) starts: a hint, it changes nothing. A worker
 * issues it for a whole burst before applying it, so the burst's misses
 * on a large index overlap (docs/benchmarks.md). Nothing with a @hash of
 * the caller's.
 */
void key_index_prefetch(const struct key_index *ki, const void *bytes,
			uint16_t len);

/*
 * Create an index of @slots keys (1 .. 2^30). @hash may be NULL for
 * key_index_hash(). Start-up only. NULL and errno (EINVAL, ENOMEM).
 */
struct key_index *key_index_create(uint32_t slots, key_index_hash_fn hash);
void key_index_destroy(struct key_index *ki);

/* Slot of @key, or -ENOENT. */
int32_t key_index_lookup(const struct key_index *ki,
			 const struct lock_key *key);

/* Slot of @key, added if absent; -ENOSPC if every slot is taken. */
int32_t key_index_add(struct key_index *ki, const struct lock_key *key);

/* Remove @key; returns the slot it had, or -ENOENT. */
int32_t key_index_del(struct key_index *ki, const struct lock_key *key);

/* Keys present. */
uint32_t key_index_count(const struct key_index *ki);

/* lock_index_ops over a struct key_index (pass it as the ops' ctx). */
extern const struct lock_index_ops key_index_ops;

#endif /* LATCH_KEY_INDEX_H */
