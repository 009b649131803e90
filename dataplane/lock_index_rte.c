/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lock_index_ops over rte_hash (lock_index_rte.h).
 */
#include <stdio.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_hash.h>
#if __has_include(<rte_hash_crc.h>)
#include <rte_hash_crc.h>
#define LOCK_INDEX_HASH_FUNC rte_hash_crc
#else
#include <rte_jhash.h>
#define LOCK_INDEX_HASH_FUNC rte_jhash
#endif

#include "common/assert.h"
#include "dataplane/lock_index_rte.h"

/* Seed of the hash: any constant; keys are not chosen against it. */
#define LOCK_INDEX_HASH_SEED 0x6c61746cu /* "latl" */

static int32_t
index_lookup(void *ctx, const struct lock_key *key)
{
	int32_t pos = rte_hash_lookup(ctx, key);

	return pos < 0 ? -ENOENT : pos;
}

static int32_t
index_add(void *ctx, const struct lock_key *key)
{
	int32_t pos = rte_hash_add_key(ctx, key);

	if (pos < 0)
		return -ENOSPC;
	/* Slots index the lock table's arrays of rte_hash's own size. */
	LATCH_DEBUG_ASSERT(pos < rte_hash_max_key_id(ctx));
	return pos;
}

static int32_t
index_del(void *ctx, const struct lock_key *key)
{
	int32_t pos = rte_hash_del_key(ctx, key);

	return pos < 0 ? -ENOENT : pos;
}

const struct lock_index_ops lock_index_rte_ops = {
	.lookup = index_lookup,
	.add = index_add,
	.del = index_del,
};

uint32_t
lock_index_rte_entries(uint32_t locks_max)
{
	return locks_max < LOCK_INDEX_RTE_ENTRIES_MIN
		       ? LOCK_INDEX_RTE_ENTRIES_MIN
		       : locks_max;
}

struct rte_hash *
lock_index_rte_create(uint16_t worker, uint32_t entries, int socket_id)
{
	char name[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters params = {
		.name = name,
		.entries = lock_index_rte_entries(entries),
		.key_len = sizeof(struct lock_key),
		.hash_func = LOCK_INDEX_HASH_FUNC,
		.hash_func_init_val = LOCK_INDEX_HASH_SEED,
		.socket_id = socket_id,
		/* No RW concurrency: one lcore owns the table. The default
		 * frees a key's position on delete, at once. */
		.extra_flag = 0,
	};
	struct rte_hash *h;

	snprintf(name, sizeof(name), "lk_%d_%u", (int)getpid(), worker);
	h = rte_hash_create(&params);
	if (h == NULL && rte_errno == 0)
		rte_errno = ENOMEM;
	return h;
}

void
lock_index_rte_destroy(struct rte_hash *h)
{
	rte_hash_free(h);
}
