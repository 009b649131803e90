/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * struct lock_index_ops over DPDK's rte_hash: the key -> slot map of a
 * worker's lock table in latchd (tests and the simulator use common/
 * key_index instead).
 *
 * Keys are whole struct lock_key values (length and zero-padded bytes), so
 * the hash compares fixed-length keys. A key's slot is its rte_hash
 * position, dense in [0, entries) and stable while the key is present.
 *
 * Thread safety: none (no RW concurrency flags). One table per worker,
 * touched only by its lcore after creation.
 */
#ifndef LATCH_LOCK_INDEX_RTE_H
#define LATCH_LOCK_INDEX_RTE_H

#include <stdint.h>

#include "dataplane/lock_table.h"

/* rte_hash's smallest table: one bucket of RTE_HASH_BUCKET_ENTRIES keys. */
#define LOCK_INDEX_RTE_ENTRIES_MIN 8

struct rte_hash;

/*
 * Create the index of worker @worker in this process, for @entries keys
 * (at least LOCK_INDEX_RTE_ENTRIES_MIN; see lock_index_rte_entries()), on
 * NUMA @socket_id. Its rte_hash is named "lk_<pid>_<worker>" so that
 * several latchd processes and workers never collide. Main lcore,
 * start-up. NULL and rte_errno on failure.
 */
struct rte_hash *lock_index_rte_create(uint16_t worker, uint32_t entries,
				       int socket_id);
void lock_index_rte_destroy(struct rte_hash *h);

/* The table size to ask for @locks_max keys: rte_hash's minimum or more. */
uint32_t lock_index_rte_entries(uint32_t locks_max);

/* The ops; pass the struct rte_hash * as their ctx. */
extern const struct lock_index_ops lock_index_rte_ops;

#endif /* LATCH_LOCK_INDEX_RTE_H */
