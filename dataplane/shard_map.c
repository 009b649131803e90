/* SPDX-License-Identifier: BSD-3-Clause */
/* Shard map over Maglev (shard_map.h). */
#include <errno.h>
#include <stdlib.h>

#include "dataplane/shard_map.h"

struct shard_map *
shard_map_create(const uint32_t *group_ids, uint16_t n, uint32_t size,
		 const char **reason)
{
	struct maglev_backend mb[SHARD_GROUPS_MAX];
	struct maglev_builder *b;
	struct shard_map *map;
	const char *why = "out of memory";
	uint16_t i;
	int rc = -ENOMEM;

	if (size == 0)
		size = MAGLEV_SIZE_DEFAULT;
	if (n == 0 || n > SHARD_GROUPS_MAX) {
		why = "shard map needs 1..SHARD_GROUPS_MAX groups";
		rc = -EINVAL;
		goto fail;
	}
	map = calloc(1, sizeof(*map));
	if (map == NULL)
		goto fail;
	map->groups_count = n;
	for (i = 0; i < n; i++) {
		uint32_t id = group_ids[i];

		map->group_ids[i] = id;
		map->ids_be[i][0] = (uint8_t)(id >> 24);
		map->ids_be[i][1] = (uint8_t)(id >> 16);
		map->ids_be[i][2] = (uint8_t)(id >> 8);
		map->ids_be[i][3] = (uint8_t)id;
		mb[i].id = map->ids_be[i];
		mb[i].id_len = 4;
		mb[i].weight = 1;
	}
	rc = maglev_size_check(size, n, &why);
	if (rc != 0)
		goto free_map;
	rc = -ENOMEM;
	map->table = maglev_table_create(size);
	if (map->table == NULL)
		goto free_map;
	b = maglev_builder_create(n);
	if (b == NULL)
		goto free_map;
	rc = maglev_build(b, map->table, mb, n, &why);
	maglev_builder_destroy(b);
	if (rc != 0)
		goto free_map;
	return map;

free_map:
	shard_map_destroy(map);
fail:
	if (reason != NULL)
		*reason = why;
	errno = -rc;
	return NULL;
}

void
shard_map_destroy(struct shard_map *map)
{
	if (map == NULL)
		return;
	maglev_table_destroy(map->table);
	free(map);
}
