/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The operator's view of routing: the routes and backends that latchd
 * serves, as the profile gave them and as the control socket changed them
 * since (docs/routing.md, "operation"). From it the main lcore builds the
 * immutable route tables that workers read (router.h), and publishes them
 * with router_swap() (router_rcu.h).
 *
 * Every route and every backend owns a counter slot: an index into the
 * per-worker counter arrays of worker.h, carried to the worker in the
 * table's `user` fields. A route or a backend keeps its slot while it
 * exists, so one added later never shares a slot with a live one; a slot
 * freed by a delete is given again only with the sums it reached recorded
 * (base_*), so the newcomer's counters start at 0 (docs/routing.md).
 *
 * Pure: no DPDK, no clock, no globals. Changes are made on a copy, built,
 * and committed only if the table builds (route_conf_build), so a refused
 * command leaves latchd as it was.
 *
 * Thread safety: owned by the main lcore; readers on other threads
 * (telemetry) must hold the lock the owner holds while it changes it.
 */
#ifndef LATCH_ROUTE_CONF_H
#define LATCH_ROUTE_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/router.h"
#include "dataplane/shard_map.h"
#include "firmware-cfg/profile.h"

/* Routes at once: one per slot of the table (router.h). */
#define ROUTE_CONF_ROUTES_MAX ROUTER_ROUTES_MAX
/*
 * Backends at once, the profile's and those added at run time: one per
 * counter slot of the workers (WORKER_BACKENDS_MAX, worker.h, is the same
 * PROFILE_BACKENDS_MAX).
 */
#define ROUTE_CONF_BACKENDS_MAX PROFILE_BACKENDS_MAX
/* A backend's weight: the profile's range (firmware-cfg/profile.c). */
#define ROUTE_CONF_WEIGHT_MAX 1000u
/* router_backend.user's high byte when the frame leaves by its RX port. */
#define ROUTE_CONF_VIA_RX 0xffu

_Static_assert(ROUTE_CONF_BACKENDS_MAX <= 0xff,
	       "a backend slot fits the low byte of router_backend.user");
_Static_assert(PROFILE_PORTS_MAX < ROUTE_CONF_VIA_RX,
	       "a TX port index fits the high byte of router_backend.user");
_Static_assert(ROUTE_CONF_BACKENDS_MAX <= ROUTER_BACKENDS_MAX,
	       "a pool of every backend fits a route: only the total limits");
_Static_assert(PROFILE_ROUTES_MAX <= ROUTE_CONF_ROUTES_MAX,
	       "every route of a profile fits a table");
_Static_assert((int)PROFILE_KEY_5TUPLE == (int)ROUTER_KEY_5TUPLE &&
		       (int)PROFILE_KEY_PAYLOAD == (int)ROUTER_KEY_PAYLOAD &&
		       (int)PROFILE_KEY_LATCH == (int)ROUTER_KEY_LATCH,
	       "profile key kinds are router key kinds");

/* What a worker finds in router_backend.user. */
static inline uint8_t
route_conf_user_slot(uint16_t user)
{
	return (uint8_t)(user & 0xff);
}

static inline uint8_t
route_conf_user_via(uint16_t user)
{
	return (uint8_t)(user >> 8);
}

struct route_conf {
	struct router_config cfg;
	uint16_t port_base; /* lock ports, which no route may take */
	uint16_t workers;
	uint16_t routes_count;
	struct profile_route routes[ROUTE_CONF_ROUTES_MAX];
	uint8_t route_slot[ROUTE_CONF_ROUTES_MAX]; /* of routes[i] */
	uint16_t backends_count;
	struct profile_backend backends[ROUTE_CONF_BACKENDS_MAX];
	uint8_t backend_via[ROUTE_CONF_BACKENDS_MAX];  /* port or VIA_RX */
	uint8_t backend_slot[ROUTE_CONF_BACKENDS_MAX]; /* of backends[i] */
	/* The profile's [port] names, which a backend's via may name. */
	uint16_t ports_count;
	char port_names[PROFILE_PORTS_MAX][PROFILE_NAME_MAX];
	uint64_t generation; /* tables built and committed */
	/*
	 * Per route slot: what earlier routes of the slot counted, taken when
	 * the slot is given again (control socket), so a route's counters
	 * start at 0. Workers never write a slot that no table uses.
	 */
	uint64_t base_forwarded[ROUTE_CONF_ROUTES_MAX];
	uint64_t base_dropped[ROUTE_CONF_ROUTES_MAX];
	/* The same per backend slot, for backend_forwarded. */
	uint64_t base_backend_forwarded[ROUTE_CONF_BACKENDS_MAX];
};

/*
 * Fill @rc from a checked profile @p (profile_check passed). 0, or
 * -EINVAL with *@why set if a backend's via names no port. Any thread.
 */
int route_conf_from_profile(struct route_conf *rc, const struct profile *p,
			    const char **why);

/*
 * Build the route table of @rc (router_table_create): each route's pool is
 * the backends whose pool it names, in profile order, each carrying its
 * slot and TX port in `user`. NULL and errno (EINVAL with *@why, ENOMEM).
 * Main lcore (or --check-config); allocates.
 */
struct route_table *route_conf_build(const struct route_conf *rc,
				     const char **why);

/*
 * Add route @r (its slot is the lowest free one). 0, or -EEXIST (the
 * name is taken), -ENOSPC (no slot), -EINVAL with *@why (ports of the lock
 * path, no such pool, default not in the pool, no key, conntrack on a key
 * other than the 5-tuple). Pure.
 */
int route_conf_route_add(struct route_conf *rc, const struct profile_route *r,
			 const char **why);

/* Remove route @name. 0 or -ENOENT. Pure. */
int route_conf_route_del(struct route_conf *rc, const char *name);

/* Mark backend @name up or down. 0 or -ENOENT. Pure. */
int route_conf_backend_set(struct route_conf *rc, const char *name, bool up);

/*
 * Add backend @b to its pool (latchctl backend add), with the lowest
 * free counter slot. A udp_port of 0 takes the port of the pool's other
 * backends when they all have one. 0, or with *@why a sentence naming
 * the field, and @rc unchanged: -EEXIST (the name is taken), -ENOSPC
 * (ROUTE_CONF_BACKENDS_MAX backends already), -EINVAL (name, pool,
 * address, MAC, port, weight or via missing or wrong; the pool already
 * has a backend at that address and port; a route of the pool whose
 * Maglev table size would not exceed 100 x its backends). @counted: the
 * workers' backend_forwarded[] summed now (ROUTE_CONF_BACKENDS_MAX
 * entries), or NULL if nothing counted yet: the new slot may have
 * counted for a deleted backend, whose sum becomes the base, so the new
 * backend's count starts at 0 (no worker writes a slot that no table
 * uses, and a delete commits only after its table swap). Pure.
 */
int route_conf_backend_add(struct route_conf *rc,
			   const struct profile_backend *b,
			   const uint64_t *counted, const char **why);

/*
 * Remove backend @name from its pool (latchctl backend del); its slot
 * becomes free. 0, or with *@why and @rc unchanged: -ENOENT (no such
 * backend), -EBUSY (it is a route's default, or the last backend of a
 * pool a route uses; *@route is then that route's index, else -1).
 * Pure.
 */
int route_conf_backend_del(struct route_conf *rc, const char *name,
			   const char **why, int *route);

/* Backend @j's forwarded count in @sum (summed over the workers'
 * backend_forwarded[]), less what earlier backends of its slot counted.
 * Any thread that may read @rc. */
static inline uint64_t
route_conf_backend_forwarded(const struct route_conf *rc, uint16_t j,
			     const uint64_t *sum_backend_forwarded)
{
	uint8_t slot = rc->backend_slot[j];

	return sum_backend_forwarded[slot] - rc->base_backend_forwarded[slot];
}

/* Index of route / backend @name, or -1. */
int route_conf_route_find(const struct route_conf *rc, const char *name);
int route_conf_backend_find(const struct route_conf *rc, const char *name);

/*
 * The shard map of @p's groups (shard_map_create over their ids in profile
 * order, so map->group_ids[i] is p->groups[i].id), or NULL and errno with
 * *@why; NULL with errno 0 when @p has no groups. Start-up; allocates.
 */
struct shard_map *route_conf_shard_map(const struct profile *p,
				       const char **why);

#endif /* LATCH_ROUTE_CONF_H */
