/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shard groups: which cluster (Raft group) of the rack owns a lock key
 * (docs/design.md, "partitions, shards and routing"; docs/routing.md).
 *
 * A shard map is a Maglev table (maglev.h) over the group ids, each id's
 * identity being its 4 bytes in network order. The owner of a key is
 * group_ids[entry[latch_key_hash(key) % M]]: the client library, latchctl
 * and every node compute the same group from the same map, and adding or
 * removing one group moves the keys of that group and only a small share
 * of the others' (the bound measured in tests/unit/test_maglev.c).
 *
 * Pure: no DPDK, no clock, no globals. Built off the fast path; read by
 * any thread once built (published by RCU like a route table).
 */
#ifndef LATCH_SHARD_MAP_H
#define LATCH_SHARD_MAP_H

#include <stddef.h>
#include <stdint.h>

#include <latch/proto.h>

#include "dataplane/maglev.h"

/* Groups in one rack: a generous bound for racks of 3- or 5-node groups. */
#define SHARD_GROUPS_MAX 256u

struct shard_map {
	uint16_t groups_count;
	uint32_t group_ids[SHARD_GROUPS_MAX]; /* as given; entries index it */
	uint8_t ids_be[SHARD_GROUPS_MAX][4];  /* identities for Maglev */
	struct maglev_table *table;
};

/*
 * Build the map of @group_ids[0..n) (distinct) into a Maglev table of
 * @size entries (0 = MAGLEV_SIZE_DEFAULT). NULL and errno: EINVAL with
 * *@reason set (no group, too many, duplicate id, bad size), ENOMEM.
 * Off the fast path; allocates.
 */
struct shard_map *shard_map_create(const uint32_t *group_ids, uint16_t n,
				   uint32_t size, const char **reason);
void shard_map_destroy(struct shard_map *map);

/*
 * The id of the group that owns @key (@len bytes). Any thread; one hash,
 * one division, two loads.
 */
static inline uint32_t
shard_map_owner(const struct shard_map *map, const void *key, size_t len)
{
	return map->group_ids[maglev_lookup(map->table,
					    latch_key_hash(key, len))];
}

#endif /* LATCH_SHARD_MAP_H */
